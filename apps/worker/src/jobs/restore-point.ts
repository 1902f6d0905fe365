import type { RestorePoint } from "@lifeboat/db";
import { AppError, assertRestorable } from "@lifeboat/domain";
import type { JobType } from "@lifeboat/jobs";
import { JobFailure } from "@lifeboat/jobs";
import type { Repository, RestorePointManifest } from "@lifeboat/repository";
import type { DurableJobContext } from "../job-context";
import { throwIfDamaged, verifyAndRecord } from "./verification";

/** The job's restore point, if it can still be restored (complete, not failed verification). */
export async function restorePointOf<T extends JobType>(ctx: DurableJobContext<T>): Promise<RestorePoint> {
  const id = ctx.run.job.restorePointId;
  const rp = id ? await ctx.db.restorePoint.findUnique({ where: { id } }) : null;
  if (!rp) throw new JobFailure("The restore point of this job no longer exists; nothing was restored.");
  try {
    assertRestorable(rp);
  } catch (e) {
    throw new JobFailure(e instanceof AppError ? e.message : String(e));
  }
  return rp;
}

/**
 * Verifies the restore point (every chunk read back and re-hashed, the catalog's verify state updated) and reads
 * its manifest: a damaged restore point is refused before anything is created on the engine.
 */
export async function verifiedManifest<T extends JobType>(
  ctx: DurableJobContext<T>,
  repository: Repository,
  rp: RestorePoint,
): Promise<RestorePointManifest> {
  try {
    throwIfDamaged(await verifyAndRecord(ctx.db, ctx.run, repository, rp.id));
  } catch (e) {
    if (e instanceof JobFailure) throw new JobFailure(`Nothing was restored. ${e.message}`, e.result);
    throw e;
  }
  return repository.readRestorePoint(rp.manifestId ?? rp.id);
}
