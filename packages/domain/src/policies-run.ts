import { randomUUID } from "node:crypto";
import type { Db, Policy, Prisma } from "@lifeboat/db";
import type { JobInput, JobQueue } from "@lifeboat/jobs";
import { z } from "zod";
import type { Actor, ServiceContext } from "./context";
import { AppError } from "./errors";
import { enqueueBackup, enqueueVerify } from "./jobs-start";
import type { NotifyConfig } from "./notify";
import { protectedVms } from "./policies";
import { notifyPolicyJobFailed, notifyPolicyMissed } from "./policies-notify";
import { policyIdInput, requirePolicyInScope } from "./policy-views";
import { planTicks } from "./schedules";

/**
 * Policy runs. Every minute pg-boss delivers one `policy.tick` (its cron monitor sends each tick once for all
 * workers); the tick evaluates each enabled policy's schedules in the policy's zone and claims each due tick by
 * inserting its PolicyRun — unique on (policyId, kind, scheduledFor) — so that however many workers tick at
 * once, only the one whose insert lands starts the run. Ticks that fell while no worker was running are looked
 * at when one returns: the newest runs once if still inside the policy's window, the others are recorded as
 * missed.
 */

/** How far back a returning worker looks for ticks it missed. */
export const TICK_LOOKBACK_MS = 7 * 24 * 3600_000;

export type RunKind = "backup" | "verify";

export interface TickOutcome {
  policyId: string;
  kind: RunKind;
  scheduledFor: Date;
  runId: string;
  state: "started" | "skipped" | "missed";
}

export interface RunDetails {
  /** Jobs started, one per VM (backup) or restore point (verify). */
  jobs: Array<{
    jobId: string;
    vmId: string;
    vmName: string;
    restorePointId?: string;
    /** A backup's mode and, when the policy asked for a full one, why. */
    mode?: BackupMode;
    why?: string;
  }>;
  skipped: Array<{ vmId: string; vmName: string; reason: string; restorePointId?: string }>;
  manual?: { userId: string; name: string };
  reason?: string;
  alsoMissed?: number;
}

/** Claims a tick: true only for the one caller whose insert created the row. */
async function claimRun(
  db: Db,
  row: { id: string; policyId: string; kind: RunKind; scheduledFor: Date; state: string; details?: object },
): Promise<boolean> {
  const { count } = await db.policyRun.createMany({
    data: [
      {
        ...row,
        startedAt: row.state === "missed" ? null : new Date(),
        details: (row.details ?? undefined) as Prisma.InputJsonValue | undefined,
      },
    ],
    skipDuplicates: true,
  });
  return count === 1;
}

/**
 * Starts every due run and records missed ones (telling the team about backups that did not run at all). Safe
 * to call from any number of workers at once.
 */
export async function runDueSchedules(
  db: Db,
  queue: JobQueue,
  notify: NotifyConfig,
  now = new Date(),
): Promise<TickOutcome[]> {
  const policies = await db.policy.findMany({ where: { enabled: true } });
  const latest = await db.policyRun.groupBy({
    by: ["policyId", "kind"],
    where: { policyId: { in: policies.map((p) => p.id) } },
    _max: { scheduledFor: true },
  });
  const latestOf = new Map(latest.map((l) => [`${l.policyId}/${l.kind}`, l._max.scheduledFor]));
  const outcomes: TickOutcome[] = [];
  for (const policy of policies) {
    for (const kind of ["backup", "verify"] as const) {
      const schedule = kind === "backup" ? policy.schedule : policy.verifySchedule;
      if (!schedule) continue;
      // Never look before the policy's last change (a new schedule has no past) or beyond the lookback.
      const after = new Date(
        Math.max(
          latestOf.get(`${policy.id}/${kind}`)?.getTime() ?? 0,
          policy.updatedAt.getTime(),
          now.getTime() - TICK_LOOKBACK_MS,
        ),
      );
      let plan: ReturnType<typeof planTicks>;
      try {
        plan = planTicks({
          schedule,
          timeZone: policy.timezone,
          after,
          now,
          windowMinutes: policy.windowMinutes,
        });
      } catch (e) {
        console.error(`[policies] policy ${policy.id} has an unusable ${kind} schedule: ${messageOf(e)}`);
        continue;
      }
      const uncovered: Date[] = [];
      for (const [i, tick] of plan.ticks.entries()) {
        const runId = randomUUID();
        if (tick.action === "missed") {
          const details: RunDetails = {
            jobs: [],
            skipped: [],
            reason: tick.reason,
            ...(i === 0 && plan.earlierMissed > 0 ? { alsoMissed: plan.earlierMissed } : {}),
          };
          if (
            await claimRun(db, {
              id: runId,
              policyId: policy.id,
              kind,
              scheduledFor: tick.scheduledFor,
              state: "missed",
              details,
            })
          ) {
            outcomes.push({
              policyId: policy.id,
              kind,
              scheduledFor: tick.scheduledFor,
              runId,
              state: "missed",
            });
            if (!tick.coveredBy) uncovered.push(tick.scheduledFor);
          }
          continue;
        }
        if (
          !(await claimRun(db, {
            id: runId,
            policyId: policy.id,
            kind,
            scheduledFor: tick.scheduledFor,
            state: "started",
          }))
        )
          continue;
        const state = await startRun(db, queue, policy, kind, runId, now);
        outcomes.push({ policyId: policy.id, kind, scheduledFor: tick.scheduledFor, runId, state });
      }
      if (kind === "backup" && uncovered.length > 0)
        await notifyPolicyMissed(db, policy, uncovered, notify).catch((e) =>
          console.error(`[policies] could not tell team ${policy.teamId} about missed runs: ${messageOf(e)}`),
        );
    }
  }
  return outcomes;
}

/** Starts a run by hand ("Run now"): recorded like a scheduled run, at the current time. */
export async function runPolicyNow(
  db: Db,
  queue: JobQueue,
  policy: Policy,
  kind: RunKind,
  by: { userId: string; name: string },
): Promise<{ runId: string; state: "started" | "skipped"; details: RunDetails }> {
  const runId = randomUUID();
  const now = new Date();
  await claimRun(db, { id: runId, policyId: policy.id, kind, scheduledFor: now, state: "started" });
  const state = await startRun(db, queue, policy, kind, runId, now, by);
  const run = await db.policyRun.findUniqueOrThrow({ where: { id: runId } });
  return { runId, state, details: run.details as unknown as RunDetails };
}

export const runNowRequest = z.object({
  policyId: policyIdInput,
  kind: z.enum(["backup", "verify"]).default("backup"),
});
export type RunNowRequest = z.infer<typeof runNowRequest>;

export const runNowResult = z.object({
  runId: z.string(),
  state: z.enum(["started", "skipped"]),
  jobIds: z.array(z.string()),
  skipped: z.array(z.object({ vmName: z.string(), reason: z.string() })),
});
export type RunNowResult = z.infer<typeof runNowResult>;

/** "Run now" for the actor (operators and admins of the policy's team): the run's jobs and what it skipped. */
export async function startPolicyRunNow(
  ctx: ServiceContext,
  actor: Actor,
  input: RunNowRequest,
): Promise<RunNowResult> {
  const policy = await requirePolicyInScope(ctx.db, actor, input.policyId);
  ctx.audit.teamId = policy.teamId;
  ctx.audit.targetType = "policy";
  ctx.audit.targetId = policy.id;
  const run = await runPolicyNow(ctx.db, ctx.queue, policy, input.kind, {
    userId: actor.userId,
    name: actor.name,
  });
  ctx.audit.details = {
    policy: policy.name,
    kind: input.kind,
    runId: run.runId,
    jobs: run.details.jobs.length,
  };
  return {
    runId: run.runId,
    state: run.state,
    jobIds: run.details.jobs.map((j) => j.jobId),
    skipped: run.details.skipped.map((s) => ({ vmName: s.vmName, reason: s.reason })),
  };
}

async function startRun(
  db: Db,
  queue: JobQueue,
  policy: Policy,
  kind: RunKind,
  runId: string,
  now: Date,
  manual?: { userId: string; name: string },
): Promise<"started" | "skipped"> {
  let details: RunDetails;
  try {
    details =
      kind === "backup"
        ? await startBackups(db, queue, policy, now, manual?.userId ?? null)
        : await startVerifications(db, queue, policy, now, manual?.userId ?? null);
  } catch (e) {
    details = { jobs: [], skipped: [], reason: `The run could not start: ${messageOf(e)}` };
  }
  if (manual) details.manual = manual;
  if (details.jobs.length === 0 && !details.reason)
    details.reason = kind === "backup" ? "No VM to back up." : "No restore point needs verifying.";
  const state = details.jobs.length > 0 ? "started" : "skipped";
  await db.policyRun.update({
    where: { id: runId },
    data: { state, details: details as unknown as Prisma.InputJsonValue },
  });
  return state;
}

/** A refusal that means "not now, for this one" (busy, engine disabled): skipped with its words, not fatal. */
function skipReason(e: unknown): string | null {
  const app = e instanceof AppError ? e : null;
  return app && (app.code === "CONFLICT" || app.code === "PRECONDITION_FAILED") ? app.message : null;
}

type BackupMode = JobInput<"backup.vm">["mode"];

const DAY_MS = 86_400_000;

/**
 * The mode of a policy's backup of one VM. snapshot-chain policies take the chain. auto ones take `auto`
 * (incremental from the VM's newest checkpoint where the engine and disks allow it, else the chain) unless a
 * full one is due: the VM's last full backup-API point is `fullEveryDays` old, or `fullEveryIncrementals`
 * incrementals followed it, or it is gone (pruned) while incrementals remain. A VM with no backup-API point
 * stays `auto`: its first backup-API backup is a full one anyway, and the engine may offer none; so does one whose
 * newest point is a snapshot chain (auto found no backup API last time: a forced full would fail).
 */
export async function policyBackupMode(
  db: Db,
  policy: Pick<Policy, "backupMode" | "keepSnapshot" | "fullEveryIncrementals" | "fullEveryDays">,
  vmId: string,
  now: Date,
): Promise<{ mode: BackupMode; why?: string }> {
  if (policy.backupMode === "snapshot-chain") return { mode: "snapshot-chain" };
  // Only the chain keeps a snapshot: auto takes it then (a forced full would go through the backup API).
  if (policy.keepSnapshot) return { mode: "auto" };
  const newest = await db.restorePoint.findFirst({
    where: { vmId, state: "complete" },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    select: { backupMode: true },
  });
  if (!newest || newest.backupMode === "snapshot-chain") return { mode: "auto" };
  const lastFull = await db.restorePoint.findFirst({
    where: { vmId, state: "complete", backupMode: "full" },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    select: { id: true, createdAt: true },
  });
  const incrementals = await db.restorePoint.count({
    where: {
      vmId,
      state: "complete",
      backupMode: "incremental",
      ...(lastFull ? { createdAt: { gt: lastFull.createdAt } } : {}),
    },
  });
  if (!lastFull)
    return incrementals > 0
      ? { mode: "full", why: "no full backup-API restore point of the VM remains" }
      : { mode: "auto" };
  const ageDays = (now.getTime() - lastFull.createdAt.getTime()) / DAY_MS;
  if (policy.fullEveryDays > 0 && ageDays >= policy.fullEveryDays)
    return {
      mode: "full",
      why: `the last full backup (${lastFull.id}) is ${Math.floor(ageDays)} days old; the policy takes one every ${policy.fullEveryDays} days`,
    };
  if (policy.fullEveryIncrementals > 0 && incrementals >= policy.fullEveryIncrementals)
    return {
      mode: "full",
      why: `${incrementals} incrementals followed the last full backup (${lastFull.id}); the policy takes a full one every ${policy.fullEveryIncrementals}`,
    };
  return { mode: "auto" };
}

/** One backup.vm job per protected VM; a VM with a backup already queued or running is skipped. */
async function startBackups(
  db: Db,
  queue: JobQueue,
  policy: Policy,
  now: Date,
  createdBy: string | null,
): Promise<RunDetails> {
  const details: RunDetails = { jobs: [], skipped: [] };
  for (const vm of await protectedVms(db, policy)) {
    if (vm.excluded) {
      details.skipped.push({ vmId: vm.id, vmName: vm.name, reason: vm.excluded });
      continue;
    }
    try {
      const { mode, why } = await policyBackupMode(db, policy, vm.id, now);
      const jobId = await enqueueBackup(db, queue, {
        vm,
        teamId: policy.teamId,
        createdBy,
        policyId: policy.id,
        input: {
          mode,
          description: `Policy ${policy.name}`,
          tags: [],
          keepSnapshot: policy.keepSnapshot,
        },
      });
      details.jobs.push({ jobId, vmId: vm.id, vmName: vm.name, mode, ...(why ? { why } : {}) });
    } catch (e) {
      const reason = skipReason(e);
      if (!reason) throw e;
      details.skipped.push({ vmId: vm.id, vmName: vm.name, reason });
    }
  }
  return details;
}

/** One verify job per restore point of the protected VMs not verified within verifyMaxAgeDays. */
async function startVerifications(
  db: Db,
  queue: JobQueue,
  policy: Policy,
  now: Date,
  createdBy: string | null,
): Promise<RunDetails> {
  const details: RunDetails = { jobs: [], skipped: [] };
  const vms = (await protectedVms(db, policy)).filter((v) => !v.excluded);
  const cutoff = new Date(now.getTime() - policy.verifyMaxAgeDays * 86_400_000);
  const points = await db.restorePoint.findMany({
    where: {
      vmId: { in: vms.map((v) => v.id) },
      state: "complete",
      OR: [{ verifiedAt: null }, { verifiedAt: { lt: cutoff } }],
    },
    select: { id: true, vmId: true, vmName: true, engineId: true },
    orderBy: [{ verifiedAt: { sort: "asc", nulls: "first" } }, { createdAt: "asc" }],
  });
  for (const rp of points) {
    try {
      const jobId = await enqueueVerify(db, queue, {
        restorePoint: rp,
        teamId: policy.teamId,
        createdBy,
        policyId: policy.id,
      });
      details.jobs.push({ jobId, vmId: rp.vmId, vmName: rp.vmName, restorePointId: rp.id });
    } catch (e) {
      const reason = skipReason(e);
      if (!reason) throw e;
      details.skipped.push({ vmId: rp.vmId, vmName: rp.vmName, restorePointId: rp.id, reason });
    }
  }
  return details;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * What follows a job a policy started, once it finished (the worker calls it after every job): a successful
 * backup is followed by a prune of that VM under the policy's retention; a failed job tells the team. Safe to
 * call again for the same job (a duplicate delivery): no second prune is queued while one waits, no second
 * notification is sent.
 */
export async function afterPolicyJob(
  db: Db,
  queue: JobQueue,
  jobId: string,
  notify: NotifyConfig,
): Promise<{ pruneJobId?: string; notified?: boolean }> {
  const job = await db.job.findUnique({ where: { id: jobId } });
  if (!job?.policyId) return {};
  if (job.state === "failed") return { notified: await notifyPolicyJobFailed(db, job, notify) };
  if (job.type !== "backup.vm" || job.state !== "succeeded" || !job.vmId) return {};
  const policy = await db.policy.findUnique({
    where: { id: job.policyId },
    select: { id: true, teamId: true },
  });
  if (!policy) return {};
  const waiting = await db.job.findFirst({
    where: { type: "prune.vm", policyId: policy.id, vmId: job.vmId, state: "queued" },
    select: { id: true },
  });
  if (waiting) return { pruneJobId: waiting.id };
  const pruneJobId = await queue.enqueue(
    "prune.vm",
    { policyId: policy.id, vmId: job.vmId },
    { teamId: policy.teamId, policyId: policy.id, vmId: job.vmId, engineId: job.engineId },
  );
  return { pruneJobId };
}
