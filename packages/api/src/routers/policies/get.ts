import {
  describeRetention,
  describeSchedule,
  holds,
  policyIdInput,
  policyRunView,
  policyView,
  protectedVms,
  requireActor,
  requirePolicyInScope,
  retentionOf,
  toPolicyRunView,
  toPolicyView,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

const scheduleView = z.object({ words: z.string(), nextRuns: z.array(z.date()) });

export const policiesGetInput = z.object({ policyId: policyIdInput });
export const policiesGetOutput = z.object({
  policy: policyView,
  schedule: scheduleView,
  verify: scheduleView.nullable(),
  retentionWords: z.string(),
  vms: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      engineName: z.string(),
      explicit: z.boolean(),
      viaTeam: z.boolean(),
      excluded: z.string().nullable(),
      restorePoints: z.number().int(),
      lastBackupAt: z.date().nullable(),
    }),
  ),
  /** The latest runs (backup and verify), newest first. */
  runs: z.array(policyRunView),
  pendingChanges: z.array(
    z.object({
      approvalRequestId: z.string(),
      summary: z.string(),
      requestedBy: z.string(),
      createdAt: z.date(),
      expiresAt: z.date(),
    }),
  ),
  /** The caller may request changes (team admin) / run, prune and pin (operator, admin). */
  canManage: z.boolean(),
  canOperate: z.boolean(),
});

/** One policy with its schedule in words and next runs, its VMs, latest runs and pending changes. */
export const get = procedure
  .meta({ permission: "policy:read" })
  .input(policiesGetInput)
  .output(policiesGetOutput)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const policy = await requirePolicyInScope(ctx.db, actor, input.policyId);
    const now = new Date();
    const vms = await protectedVms(ctx.db, policy);
    const counts = await ctx.db.restorePoint.groupBy({
      by: ["vmId"],
      where: { policyId: policy.id, state: "complete", vmId: { in: vms.map((v) => v.id) } },
      _count: { _all: true },
      _max: { createdAt: true },
    });
    const countBy = new Map(counts.map((c) => [c.vmId, c]));
    const runs = await ctx.db.policyRun.findMany({
      where: { policyId: policy.id },
      orderBy: [{ scheduledFor: "desc" }, { id: "desc" }],
      take: 30,
    });
    const pending = await ctx.db.approvalRequest.findMany({
      where: { kind: "policy.change", state: "pending", targetId: policy.id, expiresAt: { gt: now } },
      orderBy: { createdAt: "desc" },
    });
    const safeDescribe = (expr: string) => {
      try {
        return describeSchedule(expr, policy.timezone, now);
      } catch {
        return { words: `${expr} (invalid)`, nextRuns: [] };
      }
    };
    return {
      policy: toPolicyView(policy),
      schedule: safeDescribe(policy.schedule),
      verify: policy.verifySchedule ? safeDescribe(policy.verifySchedule) : null,
      retentionWords: describeRetention(retentionOf(policy)),
      vms: vms.map((v) => ({
        id: v.id,
        name: v.name,
        engineName: v.engineName,
        explicit: v.explicit,
        viaTeam: v.viaTeam,
        excluded: v.excluded,
        restorePoints: countBy.get(v.id)?._count._all ?? 0,
        lastBackupAt: countBy.get(v.id)?._max.createdAt ?? null,
      })),
      runs: runs.map(toPolicyRunView),
      pendingChanges: pending.map((r) => ({
        approvalRequestId: r.id,
        summary: r.summary,
        requestedBy: `${r.requestedByName} <${r.requestedByEmail}>`,
        createdAt: r.createdAt,
        expiresAt: r.expiresAt,
      })),
      canManage: await holds(ctx.db, actor, policy.teamId, "policy:manage"),
      canOperate: await holds(ctx.db, actor, policy.teamId, "backup:create"),
    };
  });
