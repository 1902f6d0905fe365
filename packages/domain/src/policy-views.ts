import type { Db, Policy, PolicyRun } from "@lifeboat/db";
import { z } from "zod";
import type { Actor } from "./context";
import { AppError } from "./errors";
import { page } from "./pages";
import { roleGrants, type TeamPermission } from "./permissions";
import { describeBackupMode, policySpec, protectedVms, retentionOf, specOf } from "./policies";
import { describeRetention } from "./retention";
import { describeSchedule, nextRunOf, scheduleInWords } from "./schedules";
import { inTeamScope, restorePointWhere, teamRowWhere } from "./vm-ownership";

export const policyIdInput = z.string().min(1).max(100);

/** A stored policy as the API shows it. */
export const policyView = policySpec.safeExtend({
  id: z.string(),
  teamId: z.string(),
  teamName: z.string(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const policyRunView = z.object({
  id: z.string(),
  kind: z.string(),
  scheduledFor: z.date(),
  /** started | missed | skipped */
  state: z.string(),
  startedAt: z.date().nullable(),
  details: z.unknown(),
});

export function toPolicyRunView(r: PolicyRun): z.infer<typeof policyRunView> {
  return {
    id: r.id,
    kind: r.kind,
    scheduledFor: r.scheduledFor,
    state: r.state,
    startedAt: r.startedAt,
    details: r.details,
  };
}

/** The policy if the actor holds the procedure's permission in its team; NOT_FOUND otherwise (no probing). */
export async function requirePolicyInScope(db: Db, actor: Actor, policyId: string) {
  const policy = await db.policy.findUnique({
    where: { id: policyId },
    include: { team: { select: { name: true } }, vms: { select: { vmId: true } } },
  });
  if (!policy || !inTeamScope(actor, policy.teamId))
    throw new AppError("NOT_FOUND", "No such policy (or it belongs to another team).");
  return policy;
}

export function toPolicyView(p: Policy & { team: { name: string }; vms: Array<{ vmId: string }> }) {
  return {
    id: p.id,
    teamId: p.teamId,
    teamName: p.team.name,
    ...specOf(p),
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  };
}

/** Whether the actor holds `permission` in `teamId` (site admins everywhere): drives what buttons a page shows. */
export async function holds(
  db: Db,
  actor: Actor,
  teamId: string,
  permission: TeamPermission,
): Promise<boolean> {
  if (actor.siteAdmin) return true;
  const m = await db.membership.findUnique({
    where: { teamId_userId: { teamId, userId: actor.userId } },
    select: { role: true },
  });
  return m ? roleGrants(m.role, permission) : false;
}

export const policyListQuery = z.object({ teamId: z.string().max(100).optional() }).default({});
export type PolicyListQuery = z.infer<typeof policyListQuery>;

export const policyListView = z.object({
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
export type PolicyList = z.infer<typeof policyListView>;

/** The policies of the actor's teams (every team's for site admins), by team and name. */
export async function listPolicies(db: Db, actor: Actor, input: PolicyListQuery): Promise<PolicyList> {
  const now = new Date();
  const policies = await db.policy.findMany({
    where: { AND: [teamRowWhere(actor), input.teamId ? { teamId: input.teamId } : {}] },
    include: { team: { select: { name: true } }, _count: { select: { vms: true } } },
    orderBy: [{ team: { name: "asc" } }, { name: "asc" }],
  });
  const ids = policies.map((p) => p.id);
  const pending = await db.approvalRequest.groupBy({
    by: ["targetId"],
    where: { kind: "policy.change", state: "pending", targetId: { in: ids }, expiresAt: { gt: now } },
    _count: { _all: true },
  });
  const pendingBy = new Map(pending.map((p) => [p.targetId, p._count._all]));
  const items: PolicyList["items"] = [];
  for (const p of policies) {
    const lastRun = await db.policyRun.findFirst({
      where: { policyId: p.id, kind: "backup" },
      orderBy: { scheduledFor: "desc" },
    });
    const failed = lastRun
      ? await db.job.count({
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
}

const scheduleView = z.object({ words: z.string(), nextRuns: z.array(z.date()) });

export const policyDetailView = z.object({
  policy: policyView,
  schedule: scheduleView,
  verify: scheduleView.nullable(),
  retentionWords: z.string(),
  /** The backup mode and the full-backup cadence, in words. */
  backupModeWords: z.string(),
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
export type PolicyDetail = z.infer<typeof policyDetailView>;

/** One policy with its schedule in words and next runs, its VMs, latest runs and pending changes. */
export async function policyDetail(db: Db, actor: Actor, policyId: string): Promise<PolicyDetail> {
  const policy = await requirePolicyInScope(db, actor, policyId);
  const now = new Date();
  const vms = await protectedVms(db, policy);
  const counts = await db.restorePoint.groupBy({
    by: ["vmId"],
    where: { policyId: policy.id, state: "complete", vmId: { in: vms.map((v) => v.id) } },
    _count: { _all: true },
    _max: { createdAt: true },
  });
  const countBy = new Map(counts.map((c) => [c.vmId, c]));
  const runs = await db.policyRun.findMany({
    where: { policyId: policy.id },
    orderBy: [{ scheduledFor: "desc" }, { id: "desc" }],
    take: 30,
  });
  const pending = await db.approvalRequest.findMany({
    where: { kind: "policy.change", state: "pending", targetId: policy.id, expiresAt: { gt: now } },
    orderBy: { createdAt: "desc" },
  });
  // A stored schedule that no longer parses still shows, marked invalid, instead of failing the page.
  const safeDescribe = (expr: string) => {
    try {
      return describeSchedule(expr, policy.timezone, now);
    } catch {
      return { words: `${expr} (invalid)`, nextRuns: [] };
    }
  };
  const view = toPolicyView(policy);
  return {
    policy: view,
    backupModeWords: describeBackupMode(view),
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
    canManage: await holds(db, actor, policy.teamId, "policy:manage"),
    canOperate: await holds(db, actor, policy.teamId, "backup:create"),
  };
}

export const policyJobsQuery = z.object({
  policyId: policyIdInput,
  state: z.enum(["queued", "running", "succeeded", "failed", "cancelled"]).optional(),
  /** The id of the last job of the previous page. */
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(100).default(25),
});
export type PolicyJobsQuery = z.infer<typeof policyJobsQuery>;

export const policyJobsView = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      type: z.string(),
      state: z.string(),
      phase: z.string().nullable(),
      vmId: z.string().nullable(),
      vmName: z.string().nullable(),
      restorePointId: z.string().nullable(),
      error: z.string().nullable(),
      createdAt: z.date(),
      startedAt: z.date().nullable(),
      finishedAt: z.date().nullable(),
    }),
  ),
  hasMore: z.boolean(),
});
export type PolicyJobs = z.infer<typeof policyJobsView>;

/** The jobs a policy started (backups, prunes, verifications), newest first. */
export async function policyJobs(db: Db, actor: Actor, input: PolicyJobsQuery): Promise<PolicyJobs> {
  const policy = await requirePolicyInScope(db, actor, input.policyId);
  const rows = await db.job.findMany({
    where: { policyId: policy.id, teamId: policy.teamId, ...(input.state ? { state: input.state } : {}) },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
    take: input.limit + 1,
  });
  const { items, hasMore } = page(rows, input.limit);
  const vmIds = [...new Set(items.map((j) => j.vmId).filter((v): v is string => v !== null))];
  const vms = await db.vm.findMany({ where: { id: { in: vmIds } }, select: { id: true, name: true } });
  const names = new Map(vms.map((v) => [v.id, v.name]));
  return {
    items: items.map((j) => ({
      id: j.id,
      type: j.type,
      state: j.state,
      phase: j.phase,
      vmId: j.vmId,
      vmName: j.vmId ? (names.get(j.vmId) ?? null) : null,
      restorePointId: j.restorePointId,
      error: j.error,
      createdAt: j.createdAt,
      startedAt: j.startedAt,
      finishedAt: j.finishedAt,
    })),
    hasMore,
  };
}

export const protectionSummaryView = z.object({
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
export type ProtectionSummary = z.infer<typeof protectionSummaryView>;

/** Protection at a glance for the overview: policies, runs, failures and verification results in scope. */
export async function protectionSummary(db: Db, actor: Actor): Promise<ProtectionSummary> {
  const since = new Date(Date.now() - 24 * 3600_000);
  const policies = await db.policy.findMany({
    where: teamRowWhere(actor),
    select: { id: true, enabled: true },
  });
  const ids = policies.map((p) => p.id);
  const runs = await db.policyRun.groupBy({
    by: ["state"],
    where: { policyId: { in: ids }, scheduledFor: { gte: since } },
    _count: { _all: true },
  });
  const failedJobs = await db.job.count({
    where: { policyId: { in: ids }, state: "failed", createdAt: { gte: since } },
  });
  const verify = await db.restorePoint.groupBy({
    by: ["verifyState"],
    where: { AND: [restorePointWhere(actor), { state: "complete" }] },
    _count: { _all: true },
  });
  const failures = await db.restorePoint.findMany({
    where: { AND: [restorePointWhere(actor), { state: "complete", verifyState: "failed" }] },
    orderBy: [{ verifiedAt: "desc" }, { id: "desc" }],
    take: 5,
    select: { id: true, vmName: true, createdAt: true, verifiedAt: true, verifyError: true },
  });
  const usage = actor.siteAdmin
    ? await db.repositoryUsage.findFirst({ orderBy: [{ at: "desc" }, { id: "desc" }] })
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
}
