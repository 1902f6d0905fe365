import type { Db, Job, Prisma } from "@lifeboat/db";
import {
  type JobQueue,
  type JobType,
  jobInputs,
  type ParsedJobInput,
  recordJobOutcome,
} from "@lifeboat/domain";
import { JobAbort, JobRun } from "./jobs/run";
import type { WorkerSettings } from "./jobs/settings";

export interface JobContext<T extends JobType> {
  jobId: string;
  input: ParsedJobInput<T>;
  db: Db;
  /** Enqueues follow-up jobs (same database). */
  queue: JobQueue;
  signal: AbortSignal;
  /** This attempt of the job (heartbeat, progress, events, engine-object journal); absent for rowless schedules. */
  run?: JobRun;
  settings?: WorkerSettings;
  /**
   * Ends the job `succeeded` with `result` and runs `commit` in the SAME transaction (e.g. the restore point and
   * its disks): both land or neither. Fenced: when another worker took the job over, nothing is written and it
   * throws. Handlers that call it return its value.
   */
  complete?(
    result: Record<string, unknown>,
    commit?: (tx: Prisma.TransactionClient) => Promise<void>,
  ): Promise<Record<string, unknown>>;
}

/** What every durable job handler has (runJob always provides it for jobs with a catalog row). */
export type DurableJobContext<T extends JobType> = Required<JobContext<T>>;

export type JobHandler<T extends JobType> = (
  ctx: JobContext<T>,
) => Promise<Record<string, unknown> | undefined>;

/** A failure that still has something to show with the job (e.g. which chunks a verification found bad). */
export class JobFailure extends Error {
  constructor(
    message: string,
    readonly result?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "JobFailure";
  }
}

/** The context of a durable handler; throws for a job run without its catalog row. */
export function durable<T extends JobType>(ctx: JobContext<T>): DurableJobContext<T> {
  const { run, settings, complete } = ctx;
  if (!run || !settings || !complete) throw new Error(`job ${ctx.jobId} runs without its catalog row`);
  return { ...ctx, run, settings, complete };
}

export interface RunJobOptions {
  settings: WorkerSettings;
  queue: JobQueue;
  /** Hands the job to another worker (pg-boss send) when this one stops in the middle of it. */
  requeue?(type: JobType, jobId: string): Promise<void>;
}

/**
 * Claims the job's row for a new attempt: a queued row, or a running one whose heartbeat is older than the lease
 * (its worker died). Null when it is finished or a live worker holds it (a duplicate delivery).
 */
async function claim(db: Db, jobId: string, leaseMs: number): Promise<Job | null> {
  const rows = await db.$queryRaw<Array<{ id: string }>>`
    UPDATE job SET state = 'running', attempts = attempts + 1, "heartbeatAt" = now(),
      "startedAt" = COALESCE("startedAt", now()),
      phase = CASE WHEN attempts > 0 THEN 'resuming' ELSE 'starting' END
    WHERE id = ${jobId}
      AND (state = 'queued'
        OR (state = 'running' AND ("heartbeatAt" IS NULL OR "heartbeatAt" < now() - make_interval(secs => ${leaseMs / 1000}))))
    RETURNING id`;
  if (rows.length === 0) return null;
  return db.job.findUniqueOrThrow({ where: { id: jobId } });
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Runs one queued job against its durable row: queued → running → succeeded | failed | cancelled. Each
 * delivery claims the row for one attempt (fenced by the attempt number); a finished row or one a live worker
 * holds is left alone. Cancel requests abort the handler's signal within a heartbeat; a worker that stops hands
 * the job back to the queue; a worker that dies is replaced after the lease (see sweepStaleJobs).
 */
export async function runJob<T extends JobType>(
  db: Db,
  type: T,
  jobId: string,
  handler: JobHandler<T>,
  signal: AbortSignal,
  opts: RunJobOptions,
): Promise<void> {
  const { settings } = opts;
  const exists = await db.job.findUnique({ where: { id: jobId }, select: { state: true } });
  if (!exists) throw new Error(`job ${jobId} has no catalog row`);
  const claimed = await claim(db, jobId, settings.leaseMs);
  if (!claimed) return;
  const run = new JobRun(db, claimed, settings.heartbeatMs, signal);
  run.start();
  const outcome: { completed: Job | null } = { completed: null };
  const fence = { id: jobId, attempts: run.attempt, state: "running" };
  const complete = async (
    result: Record<string, unknown>,
    commit?: (tx: Prisma.TransactionClient) => Promise<void>,
  ) => {
    await run.flush();
    outcome.completed = await db.$transaction(async (tx) => {
      const won = await tx.job.updateMany({
        where: fence,
        data: {
          state: "succeeded",
          finishedAt: new Date(),
          heartbeatAt: new Date(),
          phase: null,
          error: null,
          ...run.progressFields(),
          result: result as Prisma.InputJsonValue,
        },
      });
      if (won.count !== 1) throw new JobAbort("lease-lost", `job ${jobId}: another worker took it over`);
      await commit?.(tx);
      return tx.job.findUniqueOrThrow({ where: { id: jobId } });
    });
    return result;
  };

  let finished: Job | null = null;
  try {
    const input = jobInputs[type].parse(claimed.input) as ParsedJobInput<T>;
    const result = await handler({
      jobId,
      input,
      db,
      queue: opts.queue,
      signal: run.signal,
      run,
      settings,
      complete,
    });
    await run.stop();
    if (!outcome.completed) await complete(result ?? {});
    finished = outcome.completed;
  } catch (e) {
    await run.stop();
    const cause = run.abortCause ?? (e instanceof JobAbort ? e.why : null);
    if (cause === "lease-lost") {
      console.warn(`[worker] job ${jobId}: attempt ${run.attempt} gave way to another worker`);
      return;
    }
    if (cause === "stopping" && opts.requeue) {
      const handedBack = await db.job.updateMany({
        where: fence,
        data: {
          state: "queued",
          heartbeatAt: new Date(),
          phase: "interrupted: its worker stopped; another worker resumes it",
        },
      });
      if (handedBack.count === 1) await opts.requeue(type, jobId).catch(() => undefined);
      return;
    }
    const cancelled = cause === "cancelled";
    const error = cancelled
      ? `Cancelled on request.${e instanceof JobAbort ? "" : ` ${errorMessage(e)}`}`
      : errorMessage(e);
    const done = await db.job.updateMany({
      where: fence,
      data: {
        state: cancelled ? "cancelled" : "failed",
        finishedAt: new Date(),
        heartbeatAt: new Date(),
        ...run.progressFields(),
        error: error.slice(0, 4000),
        ...(e instanceof JobFailure && e.result ? { result: e.result as Prisma.InputJsonValue } : {}),
      },
    });
    if (done.count !== 1) return;
    finished = await db.job.findUniqueOrThrow({ where: { id: jobId } });
  }
  if (!finished) return;
  const seconds =
    ((finished.finishedAt ?? new Date()).getTime() - (finished.startedAt ?? new Date()).getTime()) / 1000;
  await db.jobEvent
    .create({
      data: {
        jobId,
        level: finished.state === "succeeded" ? "info" : finished.state === "cancelled" ? "warn" : "error",
        step: "end",
        message:
          `${finished.state} after ${seconds.toFixed(1)} s${finished.error ? `: ${finished.error}` : ""}`.slice(
            0,
            4000,
          ),
      },
    })
    .catch(() => undefined);
  // The outcome lands in the audit log; a failure to write it must not change the job's result.
  await recordJobOutcome(db, finished).catch((e) =>
    console.error(`[worker] audit of job ${jobId} failed`, e),
  );
}
