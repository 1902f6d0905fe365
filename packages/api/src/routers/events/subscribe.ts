import { eventBusFor, liveEvent, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

/**
 * Live updates over SSE: what changed (job progress and state, restore points, leftovers, inventory, engines),
 * ids only, and only for the caller's teams (site-level objects for site administrators). The page refetches
 * what it shows through the normal procedures. A `resync` event means updates may have been missed (the server
 * lost its database connection for a moment): refetch everything.
 */
export const subscribe = procedure.meta({ permission: "job:read" }).subscription(async function* ({
  ctx,
  signal,
}) {
  const actor = requireActor(ctx);
  const bus = eventBusFor(ctx.db);
  const stop = signal ?? new AbortController().signal;
  for await (const ev of bus.subscribe(actor, stop)) yield liveEvent.parse(ev);
});
