import type { Db } from "@lifeboat/db";
import type { Repository, RepositoryStats } from "@lifeboat/repository";

/**
 * Repository usage samples (`repository_usage`, the overview's and the settings' chart): an exact one after every
 * garbage collection and every "measure now", and an incremental one after every backup — the last sample plus
 * what the backup added — so that the chart moves with each backup without listing the whole repository.
 */

/** After a backup recorded restore point `restorePointId`: the last sample grown by what it added. */
export async function recordUsageAfterBackup(db: Db, restorePointId: string): Promise<void> {
  const rp = await db.restorePoint.findUnique({
    where: { id: restorePointId },
    select: { newStoredBytes: true, logicalBytes: true },
  });
  if (!rp) return;
  const last = await db.repositoryUsage.findFirst({ orderBy: [{ at: "desc" }, { id: "desc" }] });
  if (last) {
    await db.repositoryUsage.create({
      data: {
        storedBytes: last.storedBytes + rp.newStoredBytes,
        logicalBytes: last.logicalBytes + rp.logicalBytes,
        // Unknown until the next exact sample: a backup's new chunks are not counted one by one.
        chunkCount: last.chunkCount,
      },
    });
    return;
  }
  const sums = await db.restorePoint.aggregate({
    where: { state: "complete" },
    _sum: { newStoredBytes: true, logicalBytes: true },
  });
  await db.repositoryUsage.create({
    data: {
      storedBytes: sums._sum.newStoredBytes ?? 0n,
      logicalBytes: sums._sum.logicalBytes ?? 0n,
      chunkCount: 0,
    },
  });
}

/** Measures the repository (lists every chunk: seconds on a large one) and records an exact sample. */
export async function measureRepository(db: Db, repository: Repository): Promise<RepositoryStats> {
  const stats = await repository.stats();
  await db.repositoryUsage.create({
    data: {
      storedBytes: BigInt(stats.storedBytes),
      logicalBytes: BigInt(stats.logicalBytes),
      chunkCount: stats.chunks,
    },
  });
  return stats;
}
