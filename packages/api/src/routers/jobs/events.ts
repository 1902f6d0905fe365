import { jobEvents, jobEventView, requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const jobsEventsInput = z.object({
  id: z.string().uuid(),
  /** Only events after this one (follow a running job by passing the last id seen). */
  afterId: z.string().max(20).optional(),
  limit: z.number().int().min(1).max(500).default(200),
});
export const jobsEventsOutput = z.object({ items: z.array(jobEventView), hasMore: z.boolean() });

/** The event log of a job, oldest first: one line per step, the engine's own words on faults. */
export const events = procedure
  .meta({ permission: "job:read" })
  .input(jobsEventsInput)
  .output(jobsEventsOutput)
  .query(({ ctx, input }) =>
    jobEvents(ctx.db, requireActor(ctx), input.id, { afterId: input.afterId, limit: input.limit }),
  );
