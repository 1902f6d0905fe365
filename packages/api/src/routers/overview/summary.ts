import { z } from "zod";
import { procedure } from "../../trpc";
import { requireActor } from "../util";

export const summaryOutput = z.object({
  engines: z.number().int(),
  jobsLast24h: z.record(z.string(), z.number().int()),
});

/** Counts for the overview page, scoped to what the caller may see. */
export const summary = procedure
  .meta({ permission: "authenticated" })
  .output(summaryOutput)
  .query(async ({ ctx }) => {
    const actor = requireActor(ctx);
    const since = new Date(Date.now() - 24 * 3600_000);
    const teamIds = actor.siteAdmin
      ? undefined
      : (await ctx.db.membership.findMany({ where: { userId: actor.userId }, select: { teamId: true } })).map(
          (m) => m.teamId,
        );
    const jobs = await ctx.db.job.groupBy({
      by: ["state"],
      where: { createdAt: { gte: since }, ...(teamIds ? { teamId: { in: teamIds } } : {}) },
      _count: { _all: true },
    });
    const engines = actor.siteAdmin ? await ctx.db.engine.count() : 0;
    return { engines, jobsLast24h: Object.fromEntries(jobs.map((j) => [j.state, j._count._all])) };
  });
