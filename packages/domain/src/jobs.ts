import type { Db, Job, Leftover, Prisma } from "@lifeboat/db";
import { FINISHED_JOB_STATES, JOB_STATES, jobInputs, requestCancel } from "@lifeboat/jobs";
import { z } from "zod";
import { recordJobOutcome } from "./audit";
import type { Actor, ServiceContext } from "./context";
import { AppError } from "./errors";
import { teamRowWhere } from "./vm-ownership";

export const leftoverView = z.object({
  id: z.string(),
  engineId: z.string(),
  kind: z.string(),
  objectId: z.string(),
  description: z.string(),
  createdAt: z.date(),
  resolvedAt: z.date().nullable(),
});

export const jobView = z.object({
  id: z.string(),
  type: z.string(),
  state: z.string(),
  /** The step running now, in words an operator knows. */
  phase: z.string().nullable(),
  result: z.unknown().nullable(),
  error: z.string().nullable(),
  createdAt: z.date(),
  startedAt: z.date().nullable(),
  finishedAt: z.date().nullable(),
  createdBy: z.string().nullable(),
  teamId: z.string().nullable(),
  engineId: z.string().nullable(),
  /** The catalog VM (`vm.id`) the job works on, and its name. */
  vmId: z.string().nullable(),
  vmName: z.string().nullable(),
  restorePointId: z.string().nullable(),
  policyId: z.string().nullable(),
  /**
   * The mode a backup.vm job was asked for (auto, full, incremental, snapshot-chain; null for other jobs); the mode
   * it took is in its result.
   */
  backupMode: z.string().nullable(),
  bytesDone: z.number(),
  bytesTotal: z.number(),
  /** Bytes per second over the last progress interval. */
  rate: z.number().nullable(),
  heartbeatAt: z.date().nullable(),
  attempts: z.number(),
  cancelRequested: z.boolean(),
  /** What the job created on the engine and could not remove. */
  leftovers: z.array(leftoverView),
});
export type JobView = z.infer<typeof jobView>;

/** A backup job's mode from its stored input (jobs queued before modes existed are auto). */
function askedBackupMode(input: Prisma.JsonValue): string {
  const mode = input && typeof input === "object" && "mode" in input ? input.mode : undefined;
  const parsed = jobInputs["backup.vm"].shape.mode.safeParse(mode);
  return parsed.success ? parsed.data : "auto";
}

export function toJobView(job: Job, leftovers: Leftover[] = [], vmName: string | null = null): JobView {
  return {
    id: job.id,
    type: job.type,
    state: job.state,
    phase: job.phase,
    result: job.result ?? null,
    error: job.error,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    createdBy: job.createdBy,
    teamId: job.teamId,
    engineId: job.engineId,
    vmId: job.vmId,
    vmName,
    restorePointId: job.restorePointId,
    policyId: job.policyId,
    backupMode: job.type === "backup.vm" ? askedBackupMode(job.input) : null,
    bytesDone: Number(job.bytesDone),
    bytesTotal: Number(job.bytesTotal),
    rate: job.rate,
    heartbeatAt: job.heartbeatAt,
    attempts: job.attempts,
    cancelRequested: job.cancelRequested,
    leftovers: leftovers.map((l) => ({
      id: l.id,
      engineId: l.engineId,
      kind: l.kind,
      objectId: l.objectId,
      description: l.description,
      createdAt: l.createdAt,
      resolvedAt: l.resolvedAt,
    })),
  };
}

/** Jobs the actor may see: their teams' (every job for a site admin, site-level ones included). */
export function jobWhere(actor: Actor): Prisma.JobWhereInput {
  return teamRowWhere(actor);
}

/** One job the actor may see, with its leftovers; NOT_FOUND otherwise. */
export async function visibleJob(db: Db, actor: Actor, id: string): Promise<JobView> {
  const job = await db.job.findFirst({
    where: { AND: [{ id }, jobWhere(actor)] },
    include: { leftovers: { orderBy: { createdAt: "asc" } } },
  });
  if (!job) throw new AppError("NOT_FOUND", "No such job.");
  const names = await vmNames(db, [job.vmId]);
  return toJobView(job, job.leftovers, job.vmId ? (names.get(job.vmId) ?? null) : null);
}

/** Names of catalog VMs (jobs carry the id only). */
async function vmNames(db: Db, ids: Array<string | null>): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((id): id is string => !!id))];
  if (wanted.length === 0) return new Map();
  const rows = await db.vm.findMany({ where: { id: { in: wanted } }, select: { id: true, name: true } });
  return new Map(rows.map((r) => [r.id, r.name]));
}

export const jobListFilters = z.object({
  state: z.array(z.enum(JOB_STATES)).max(5).optional(),
  type: z.array(z.string().min(1).max(50)).max(20).optional(),
  /** The catalog VM (`vm.id`). */
  vmId: z.string().max(100).optional(),
  restorePointId: z.string().max(100).optional(),
  teamId: z.string().max(100).optional(),
});
export type JobListFilters = z.infer<typeof jobListFilters>;

/**
 * Jobs newest first, scoped to the actor, one page after the job `cursor` (keyset on createdAt, id: the
 * index job_createdAt_id_idx answers it).
 */
export async function listJobs(
  db: Db,
  actor: Actor,
  filters: JobListFilters,
  page: { cursor?: string; limit: number },
): Promise<{ items: JobView[]; hasMore: boolean }> {
  const rows = await db.job.findMany({
    where: {
      AND: [
        jobWhere(actor),
        filters.state?.length ? { state: { in: filters.state } } : {},
        filters.type?.length ? { type: { in: filters.type } } : {},
        filters.vmId ? { vmId: filters.vmId } : {},
        filters.restorePointId ? { restorePointId: filters.restorePointId } : {},
        filters.teamId ? { teamId: filters.teamId } : {},
      ],
    },
    include: { leftovers: { orderBy: { createdAt: "asc" } } },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    ...(page.cursor ? { cursor: { id: page.cursor }, skip: 1 } : {}),
    take: page.limit + 1,
  });
  const items = rows.slice(0, page.limit);
  const names = await vmNames(
    db,
    items.map((r) => r.vmId),
  );
  return {
    items: items.map((r) => toJobView(r, r.leftovers, r.vmId ? (names.get(r.vmId) ?? null) : null)),
    hasMore: rows.length > page.limit,
  };
}

export const jobEventView = z.object({
  /** Increasing: pass the last one as `afterId` to follow a running job. */
  id: z.string(),
  at: z.date(),
  level: z.string(),
  step: z.string(),
  message: z.string(),
  details: z.unknown().nullable(),
});
export type JobEventView = z.infer<typeof jobEventView>;

/** The event log of a job the actor may see, oldest first, after event `afterId`. */
export async function jobEvents(
  db: Db,
  actor: Actor,
  jobId: string,
  page: { afterId?: string; limit: number },
): Promise<{ items: JobEventView[]; hasMore: boolean }> {
  const job = await db.job.findFirst({
    where: { AND: [{ id: jobId }, jobWhere(actor)] },
    select: { id: true },
  });
  if (!job) throw new AppError("NOT_FOUND", "No such job.");
  let after: bigint | undefined;
  if (page.afterId !== undefined) {
    if (!/^\d{1,19}$/.test(page.afterId)) throw new AppError("BAD_REQUEST", "afterId is an event id.");
    after = BigInt(page.afterId);
  }
  const rows = await db.jobEvent.findMany({
    where: { jobId, ...(after !== undefined ? { id: { gt: after } } : {}) },
    orderBy: { id: "asc" },
    take: page.limit + 1,
  });
  return {
    items: rows.slice(0, page.limit).map((e) => ({
      id: e.id.toString(),
      at: e.at,
      level: e.level,
      step: e.step,
      message: e.message,
      details: e.details ?? null,
    })),
    hasMore: rows.length > page.limit,
  };
}

/**
 * Cancels a job: a queued one ends `cancelled` at once; a running one gets `cancelRequested`, which its worker
 * notices within about a second — it aborts the running step, the flow cleans the engine up, and the job ends
 * `cancelled`. A finished job is a CONFLICT.
 */
export async function cancelJob(ctx: ServiceContext, actor: Actor, id: string): Promise<JobView> {
  const { db } = ctx;
  const job = await db.job.findFirst({ where: { AND: [{ id }, jobWhere(actor)] } });
  if (!job) throw new AppError("NOT_FOUND", "No such job.");
  if (FINISHED_JOB_STATES.includes(job.state))
    throw new AppError("CONFLICT", `This job already ended (${job.state}).`);
  const { ended } = await requestCancel(db, id, `${actor.name} <${actor.email}>`);
  if (ended) await recordJobOutcome(db, ended);
  const view = await visibleJob(db, actor, id);
  ctx.audit.teamId = view.teamId ?? undefined;
  ctx.audit.targetType = "job";
  ctx.audit.targetId = view.id;
  ctx.audit.details = { type: view.type, state: view.state };
  return view;
}
