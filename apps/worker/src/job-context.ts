import type { Db } from "@lifeboat/db";
import type { CompleteCommit, JobQueue, JobRun, JobType, ParsedJobInput } from "@lifeboat/jobs";
import type { WorkerSettings } from "./jobs/settings";

/** What a handler gets: the job's parsed input, the catalog, the queue and, for durable jobs, its attempt. */
export interface JobContext<T extends JobType> {
  jobId: string;
  input: ParsedJobInput<T>;
  db: Db;
  /** Enqueues follow-up jobs (same database). */
  queue: JobQueue;
  signal: AbortSignal;
  /** This attempt of the job (heartbeat, progress, events, engine-object journal); absent for rowless schedules. */
  run?: JobRun;
  settings: WorkerSettings;
  /**
   * Ends the job `succeeded` with `result` and runs `commit` in the SAME transaction (e.g. the restore point and
   * its disks): both land or neither. Fenced: when another worker took the job over, nothing is written and it
   * throws. Handlers that call it return its value.
   */
  complete?(result: Record<string, unknown>, commit?: CompleteCommit): Promise<Record<string, unknown>>;
}

/** What every durable job handler has (the worker always provides it for jobs with a catalog row). */
export type DurableJobContext<T extends JobType> = Required<JobContext<T>>;

export type JobHandler<T extends JobType> = (
  ctx: JobContext<T>,
) => Promise<Record<string, unknown> | undefined>;

/** The context of a durable handler; throws for a job run without its catalog row. */
export function durable<T extends JobType>(ctx: JobContext<T>): DurableJobContext<T> {
  const { run, settings, complete } = ctx;
  if (!run || !complete) throw new Error(`job ${ctx.jobId} runs without its catalog row`);
  return { ...ctx, run, settings, complete };
}
