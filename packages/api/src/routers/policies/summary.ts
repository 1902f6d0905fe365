import { requireActor, restorePointWhere, teamRowWhere } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const protectionSummaryOutput = z.object({
  policies: z.number().int(),
  enabledPolicies: z.number().int(),
  /** Policy runs of the last 24 hours by state (started | missed | skipped). */
  runsLast24h: z.record(z.string(), z.number().int()),
  failedPolicyJobsLast24h: z.number().int(),
  /** Complete restore points by verification state (unverified | ok | failed). */
  verify: z.record(z.string(), z.number().int()),
  recentVerifyFailures: z.array(
    z.object({
      restorePointId: z.string(),
      vmName: z.string(),
      createdAt: z.date(),
      verifiedAt: z.date().nullable(),
      verifyError: z.string().nullable(),
    }),
  ),
  /** The latest repository size sample (site administrators only). */
  repository: z
    .object({ at: z.date(), storedBytes: z.bigint(), logicalBytes: z.bigint(), chunkCount: z.number() })
    .nullable(),
});

/** Protection at a glance for the overview: policies, runs, failures and verification results in scope. */
export const summary = procedure
  .meta({ permission: "policy:read" })
  .output(protectionSummaryOutput)
  .query(async ({ ctx }) => {
    const actor = requireActor(ctx);
    const since = new Date(Date.now() - 24 * 3600_000);
    const policies = await ctx.db.policy.findMany({
      where: teamRowWhere(actor),
      select: { id: true, enabled: true },
    });
    const ids = policies.map((p) => p.id);
    const runs = await ctx.db.policyRun.groupBy({
      by: ["state"],
      where: { policyId: { in: ids }, scheduledFor: { gte: since } },
      _count: { _all: true },
    });
    const failedJobs = await ctx.db.job.count({
      where: { policyId: { in: ids }, state: "failed", createdAt: { gte: since } },
    });
    const verify = await ctx.db.restorePoint.groupBy({
      by: ["verifyState"],
      where: { AND: [restorePointWhere(actor), { state: "complete" }] },
      _count: { _all: true },
    });
    const failures = await ctx.db.restorePoint.findMany({
      where: { AND: [restorePointWhere(actor), { state: "complete", verifyState: "failed" }] },
      orderBy: [{ verifiedAt: "desc" }, { id: "desc" }],
      take: 5,
      select: { id: true, vmName: true, createdAt: true, verifiedAt: true, verifyError: true },
    });
    const usage = actor.siteAdmin
      ? await ctx.db.repositoryUsage.findFirst({ orderBy: [{ at: "desc" }, { id: "desc" }] })
      : null;
    return {
      policies: policies.length,
      enabledPolicies: policies.filter((p) => p.enabled).length,
      runsLast24h: Object.fromEntries(runs.map((r) => [r.state, r._count._all])),
      failedPolicyJobsLast24h: failedJobs,
      verify: Object.fromEntries(verify.map((v) => [v.verifyState, v._count._all])),
      recentVerifyFailures: failures.map((f) => ({
        restorePointId: f.id,
        vmName: f.vmName,
        createdAt: f.createdAt,
        verifiedAt: f.verifiedAt,
        verifyError: f.verifyError,
      })),
      repository: usage
        ? {
            at: usage.at,
            storedBytes: usage.storedBytes,
            logicalBytes: usage.logicalBytes,
            chunkCount: usage.chunkCount,
          }
        : null,
    };
  });
