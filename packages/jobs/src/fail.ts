import type { Db, Job, Prisma } from "@lifeboat/db";
import { JobAbort, type JobRun } from "./attempt";
import { fenceOf } from "./states";

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

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Ends the attempt `failed` (or `cancelled`, when a cancel request aborted it) with the error's words and the
 * result a JobFailure carries. Null when another attempt holds the row: nothing was written.
 */
export async function failJob(
  db: Db,
  run: JobRun,
  e: unknown,
  opts: { cancelled: boolean },
): Promise<Job | null> {
  const error = opts.cancelled
    ? `Cancelled on request.${e instanceof JobAbort ? "" : ` ${errorMessage(e)}`}`
    : errorMessage(e);
  const done = await db.job.updateMany({
    where: fenceOf(run.jobId, run.attempt),
    data: {
      state: opts.cancelled ? "cancelled" : "failed",
      finishedAt: new Date(),
      heartbeatAt: new Date(),
      ...run.progressFields(),
      error: error.slice(0, 4000),
      ...(e instanceof JobFailure && e.result ? { result: e.result as Prisma.InputJsonValue } : {}),
    },
  });
  if (done.count !== 1) return null;
  return db.job.findUniqueOrThrow({ where: { id: run.jobId } });
}

/** Puts the attempt's row back in the queue (its worker is stopping); false when another attempt holds it. */
export async function handBackJob(db: Db, run: JobRun): Promise<boolean> {
  const handedBack = await db.job.updateMany({
    where: fenceOf(run.jobId, run.attempt),
    data: {
      state: "queued",
      heartbeatAt: new Date(),
      phase: "interrupted: its worker stopped; another worker resumes it",
    },
  });
  return handedBack.count === 1;
}
