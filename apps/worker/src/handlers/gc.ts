import { catalogRepository } from "@lifeboat/domain";
import { DEFAULT_GC_GRACE_MS } from "@lifeboat/repository";
import type { JobHandler } from "../job-context";

/**
 * Site-wide garbage collection (daily schedule, or on demand): deletes chunks and layer manifests that no restore
 * point references and that nobody wrote or reused within the grace period or since the start of the oldest open
 * writer session — so a backup running meanwhile keeps everything it wrote. Records a RepositoryUsage sample.
 * The schedule's tick (no catalog row) queues a job with a row, so every collection shows in the job history.
 */
export const repositoryGc: JobHandler<"repository.gc"> = async ({
  db,
  queue,
  input,
  signal,
  run,
  settings,
}) => {
  if (!run) {
    const jobId = await queue.enqueue("repository.gc", input, {});
    return { queued: jobId };
  }
  const repository = await catalogRepository(settings.config.repository);
  run.setPhase("collecting garbage");
  const report = await repository.gc({
    graceMs: input.graceMinutes !== undefined ? input.graceMinutes * 60_000 : DEFAULT_GC_GRACE_MS,
    signal,
  });
  const logical = await db.restorePoint.aggregate({
    where: { state: "complete" },
    _sum: { logicalBytes: true },
  });
  await db.repositoryUsage.create({
    data: {
      storedBytes: BigInt(report.remainingBytes),
      logicalBytes: logical._sum.logicalBytes ?? 0n,
      chunkCount: report.remainingChunks,
    },
  });
  return {
    deletedChunks: report.deletedChunks,
    deletedLayers: report.deletedLayers,
    freedBytes: report.freedBytes,
    remainingChunks: report.remainingChunks,
    remainingBytes: report.remainingBytes,
    activeSessions: report.activeSessions,
    missingChunks: report.missingChunks,
    missingLayers: report.missingLayers.length,
    cutoff: report.cutoff,
  };
};
