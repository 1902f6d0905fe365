import type { Db, Job, Prisma } from "@lifeboat/db";
import { JobAbort, type JobRun } from "./attempt";
import { fenceOf } from "./states";

/** Work that lands with the job's success, in the same transaction (e.g. the restore point and its disks). */
export type CompleteCommit = (tx: Prisma.TransactionClient) => Promise<void>;

/**
 * Ends the attempt `succeeded` with `result` and runs `commit` in the SAME transaction: both land or neither.
 * Fenced: when another worker took the job over, nothing is written and it throws JobAbort("lease-lost").
 */
export async function completeJob(
  db: Db,
  run: JobRun,
  result: Record<string, unknown>,
  commit?: CompleteCommit,
): Promise<Job> {
  await run.flush();
  return db.$transaction(async (tx) => {
    const won = await tx.job.updateMany({
      where: fenceOf(run.jobId, run.attempt),
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
    if (won.count !== 1) throw new JobAbort("lease-lost", `job ${run.jobId}: another worker took it over`);
    await commit?.(tx);
    return tx.job.findUniqueOrThrow({ where: { id: run.jobId } });
  });
}
