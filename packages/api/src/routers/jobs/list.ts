import { jobListFilters, jobView, listJobs, requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const jobsListInput = jobListFilters.extend({
  /** The id of the last job of the previous page. */
  cursor: z.string().max(100).optional(),
  limit: z.number().int().min(1).max(100).default(25),
});
export const jobsListOutput = z.object({ items: z.array(jobView), hasMore: z.boolean() });

/** Jobs newest first (filters: state, type, VM, restore point, team), never outside the caller's teams. */
export const list = procedure
  .meta({ permission: "job:read" })
  .input(jobsListInput)
  .output(jobsListOutput)
  .query(({ ctx, input }) => {
    const { cursor, limit, ...filters } = input;
    return listJobs(ctx.db, requireActor(ctx), filters, { cursor, limit });
  });
