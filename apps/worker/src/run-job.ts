import { type JobInput, type JobType, jobInputs, recordJobOutcome } from "@lifeboat/api";
import type { Db, Prisma } from "@lifeboat/db";

export interface JobContext<T extends JobType> {
  jobId: string;
  input: JobInput<T>;
  db: Db;
  signal: AbortSignal;
}

export type JobHandler<T extends JobType> = (
  ctx: JobContext<T>,
) => Promise<Record<string, unknown> | undefined>;

/**
 * Runs one queued job against its durable row: running → succeeded | failed. A row already finished (a
 * duplicate delivery) is left alone.
 */
export async function runJob<T extends JobType>(
  db: Db,
  type: T,
  jobId: string,
  handler: JobHandler<T>,
  signal: AbortSignal,
): Promise<void> {
  const job = await db.job.findUnique({ where: { id: jobId } });
  if (!job) throw new Error(`job ${jobId} has no catalog row`);
  if (["succeeded", "failed", "cancelled"].includes(job.state)) return;
  await db.job.update({
    where: { id: jobId },
    data: { state: "running", startedAt: job.startedAt ?? new Date() },
  });
  let finished: Awaited<ReturnType<typeof db.job.update>>;
  try {
    const input = jobInputs[type].parse(job.input) as JobInput<T>;
    const result = await handler({ jobId, input, db, signal });
    finished = await db.job.update({
      where: { id: jobId },
      data: { state: "succeeded", finishedAt: new Date(), result: (result ?? {}) as Prisma.InputJsonValue },
    });
  } catch (e) {
    finished = await db.job.update({
      where: { id: jobId },
      data: { state: "failed", finishedAt: new Date(), error: e instanceof Error ? e.message : String(e) },
    });
  }
  // The outcome lands in the audit log; a failure to write it must not change the job's result.
  await recordJobOutcome(db, finished).catch((e) =>
    console.error(`[worker] audit of job ${jobId} failed`, e),
  );
}
