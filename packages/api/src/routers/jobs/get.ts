import { z } from "zod";
import { AppError } from "../../errors";
import { procedure } from "../../trpc";
import { requireActor } from "../util";

export const jobGetInput = z.object({ id: z.string().uuid() });
export const jobOutput = z.object({
  id: z.string(),
  type: z.string(),
  state: z.string(),
  result: z.unknown().nullable(),
  error: z.string().nullable(),
  createdAt: z.date(),
  startedAt: z.date().nullable(),
  finishedAt: z.date().nullable(),
});

/** One job, if it belongs to one of the caller's teams (or to the site, for site admins). */
export const get = procedure
  .meta({ permission: "job:read" })
  .input(jobGetInput)
  .output(jobOutput)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const job = await ctx.db.job.findUnique({ where: { id: input.id } });
    const visible = job && (actor.siteAdmin || (job.teamId !== null && actor.teamIds.includes(job.teamId)));
    if (!job || !visible) throw new AppError("NOT_FOUND", "No such job.");
    return {
      id: job.id,
      type: job.type,
      state: job.state,
      result: job.result,
      error: job.error,
      createdAt: job.createdAt,
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
    };
  });
