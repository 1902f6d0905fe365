import type { Db, Job } from "@lifeboat/db";

/**
 * Cancels a job that has not finished: a queued one that never ran ends `cancelled` at once (returned as
 * `ended`); otherwise `cancelRequested` is set, which its worker notices within a heartbeat — it aborts the
 * running step, the flow cleans the engine up, and the job ends `cancelled`. `by` names who asked.
 */
export async function requestCancel(db: Db, jobId: string, by: string): Promise<{ ended: Job | null }> {
  const dropped = await db.job.updateMany({
    where: { id: jobId, state: "queued", attempts: 0 },
    data: {
      state: "cancelled",
      cancelRequested: true,
      finishedAt: new Date(),
      phase: null,
      error: `Cancelled by ${by} before it started.`,
    },
  });
  if (dropped.count === 1) return { ended: await db.job.findUniqueOrThrow({ where: { id: jobId } }) };
  // Running (or queued again to resume after a worker died): the worker ends it once the engine is clean.
  await db.job.updateMany({
    where: { id: jobId, state: { in: ["queued", "running"] } },
    data: { cancelRequested: true },
  });
  await db.jobEvent.create({
    data: { jobId, level: "warn", step: "cancel", message: `cancel requested by ${by}` },
  });
  return { ended: null };
}
