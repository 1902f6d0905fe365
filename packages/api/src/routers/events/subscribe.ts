import { LIVE_EVENTS_PERMISSION, liveEvent, liveEvents, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

/**
 * Live updates over SSE: what changed (job progress and state, restore points, leftovers, inventory, engines),
 * ids only, and only for the caller's teams (site-level objects for site administrators) — re-checked while the
 * stream runs, so a team left or an account disabled meanwhile stops it. The page refetches what it shows
 * through the normal procedures. A `resync` event means updates may have been missed (the server lost its
 * database connection for a moment): refetch everything.
 */
export const subscribe = procedure
  .meta({ permission: LIVE_EVENTS_PERMISSION })
  .subscription(async function* ({ ctx, signal }) {
    const stop = signal ?? new AbortController().signal;
    for await (const ev of liveEvents(ctx.db, requireActor(ctx), stop)) yield liveEvent.parse(ev);
  });
