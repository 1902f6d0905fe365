import {
  describeRetention,
  nextRunOf,
  policyRunView,
  requireActor,
  retentionOf,
  scheduleInWords,
  teamRowWhere,
  toPolicyRunView,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const policiesListInput = z.object({ teamId: z.string().max(100).optional() }).default({});
export const policiesListOutput = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      teamId: z.string(),
      teamName: z.string(),
      name: z.string(),
      enabled: z.boolean(),
      schedule: z.string(),
      timezone: z.string(),
      scheduleWords: z.string(),
      retentionWords: z.string(),
      verifySchedule: z.string().nullable(),
      includeTeamVms: z.boolean(),
      vmCount: z.number().int(),
      lastRun: policyRunView.nullable(),
      nextRun: z.date().nullable(),
      /** Jobs of the last backup run that failed. */
      lastRunFailedJobs: z.number().int(),
      pendingChanges: z.number().int(),
    }),
  ),
});

/** The policies of the caller's teams (every team's for site admins), by team and name. */
export const list = procedure
  .meta({ permission: "policy:read" })
  .input(policiesListInput)
  .output(policiesListOutput)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const now = new Date();
    const policies = await ctx.db.policy.findMany({
      where: { AND: [teamRowWhere(actor), input.teamId ? { teamId: input.teamId } : {}] },
      include: { team: { select: { name: true } }, _count: { select: { vms: true } } },
      orderBy: [{ team: { name: "asc" } }, { name: "asc" }],
    });
    const ids = policies.map((p) => p.id);
    const pending = await ctx.db.approvalRequest.groupBy({
      by: ["targetId"],
      where: { kind: "policy.change", state: "pending", targetId: { in: ids }, expiresAt: { gt: now } },
      _count: { _all: true },
    });
    const pendingBy = new Map(pending.map((p) => [p.targetId, p._count._all]));
    const items = [];
    for (const p of policies) {
      const lastRun = await ctx.db.policyRun.findFirst({
        where: { policyId: p.id, kind: "backup" },
        orderBy: { scheduledFor: "desc" },
      });
      const failed = lastRun
        ? await ctx.db.job.count({
            where: {
              policyId: p.id,
              state: "failed",
              createdAt: { gte: lastRun.startedAt ?? lastRun.scheduledFor },
            },
          })
        : 0;
      items.push({
        id: p.id,
        teamId: p.teamId,
        teamName: p.team.name,
        name: p.name,
        enabled: p.enabled,
        schedule: p.schedule,
        timezone: p.timezone,
        scheduleWords: scheduleInWords(p.schedule, p.timezone),
        retentionWords: describeRetention(retentionOf(p)),
        verifySchedule: p.verifySchedule,
        includeTeamVms: p.includeTeamVms,
        vmCount: p._count.vms,
        lastRun: lastRun ? toPolicyRunView(lastRun) : null,
        nextRun: p.enabled ? nextRunOf(p.schedule, p.timezone, now) : null,
        lastRunFailedJobs: failed,
        pendingChanges: pendingBy.get(p.id) ?? 0,
      });
    }
    return { items };
  });
