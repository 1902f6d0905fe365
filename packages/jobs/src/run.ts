import type { Db, Job } from "@lifeboat/db";
import { JobAbort, JobRun } from "./attempt";
import { claimJob } from "./claim";
import { type CompleteCommit, completeJob } from "./complete";
import { failJob, handBackJob, JobFailure } from "./fail";
import { type JobType, jobInputs, type ParsedJobInput } from "./job-types";
import {
  retryDelayMs,
  retryLater,
  type SendLater,
  TRANSIENT_ATTEMPTS,
  type TransientClassifier,
} from "./retry";

/** What the body of one attempt gets: the parsed input, the attempt, and the fenced success write. */
export interface JobAttempt<T extends JobType> {
  jobId: string;
  input: ParsedJobInput<T>;
  run: JobRun;
  /**
   * Ends the job `succeeded` with `result` and runs `commit` in the SAME transaction: both land or neither.
   * Fenced: when another worker took the job over, nothing is written and it throws. Bodies that call it return
   * its value.
   */
  complete(result: Record<string, unknown>, commit?: CompleteCommit): Promise<Record<string, unknown>>;
}

export type JobBody<T extends JobType> = (
  attempt: JobAttempt<T>,
) => Promise<Record<string, unknown> | undefined>;

export interface RunJobOptions {
  leaseMs: number;
  /** Heartbeat, progress write and cancel check of a running job. */
  heartbeatMs: number;
  /** Hands the job to another worker (pg-boss send), now or after a delay: when this one stops, or to retry. */
  requeue?: SendLater;
  /**
   * Failures that are the infrastructure's, not the job's (the catalog database restarting): the attempt ends and
   * the job is tried again with back-off, up to TRANSIENT_ATTEMPTS; the last failure reads in these words.
   */
  transient?: TransientClassifier;
  /** Called once with the finished row (the audit log); its failure does not change the job's result. */
  onFinished?(job: Job): Promise<void>;
}

/**
 * Runs one delivery of a job against its durable row: queued → running → succeeded | failed | cancelled. Each
 * delivery claims the row for one attempt (fenced by the attempt number); a finished row or one a live worker
 * holds is left alone. Cancel requests abort the body's signal within a heartbeat; a worker that stops hands
 * the job back to the queue; a worker that dies is replaced after the lease (see sweepStaleJobs).
 */
export async function runJob<T extends JobType>(
  db: Db,
  type: T,
  jobId: string,
  body: JobBody<T>,
  signal: AbortSignal,
  opts: RunJobOptions,
): Promise<void> {
  const exists = await db.job.findUnique({ where: { id: jobId }, select: { state: true } });
  if (!exists) throw new Error(`job ${jobId} has no catalog row`);
  const claimed = await claimJob(db, jobId, opts.leaseMs);
  if (!claimed) return;
  const run = new JobRun(db, claimed, opts.heartbeatMs, signal);
  run.start();
  const outcome: { completed: Job | null } = { completed: null };
  const complete = async (result: Record<string, unknown>, commit?: CompleteCommit) => {
    outcome.completed = await completeJob(db, run, result, commit);
    return result;
  };

  let finished: Job | null = null;
  try {
    const input = jobInputs[type].parse(claimed.input) as ParsedJobInput<T>;
    const result = await body({ jobId, input, run, complete });
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
      if (await handBackJob(db, run)) await opts.requeue(type, jobId).catch(() => undefined);
      return;
    }
    const transient = cause ? undefined : opts.transient?.(e);
    if (transient && opts.requeue && run.attempt < TRANSIENT_ATTEMPTS) {
      await retryLater(db, run, type, transient, retryDelayMs(run.attempt, opts.leaseMs), opts.requeue);
      return;
    }
    const failure = transient ? new JobFailure(`Failed after ${run.attempt} attempts: ${transient}.`) : e;
    finished = await failJob(db, run, failure, { cancelled: cause === "cancelled" });
  }
  if (!finished) return;
  await endEvent(db, finished);
  await opts.onFinished?.(finished).catch((e) => console.error(`[worker] audit of job ${jobId} failed`, e));
}

/** The last line of the job's event log: how it ended and after how long. */
async function endEvent(db: Db, job: Job): Promise<void> {
  const seconds = ((job.finishedAt ?? new Date()).getTime() - (job.startedAt ?? new Date()).getTime()) / 1000;
  await db.jobEvent
    .create({
      data: {
        jobId: job.id,
        level: job.state === "succeeded" ? "info" : job.state === "cancelled" ? "warn" : "error",
        step: "end",
        message: `${job.state} after ${seconds.toFixed(1)} s${job.error ? `: ${job.error}` : ""}`.slice(
          0,
          4000,
        ),
      },
    })
    .catch(() => undefined);
}
