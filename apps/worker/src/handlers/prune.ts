import { catalogRepository, deleteRestorePoint, pruneVm, recordAudit } from "@lifeboat/domain";
import type { JobHandler } from "../job-context";

/** Applies a policy's retention to one VM: deletes the restore points it no longer keeps (never pinned ones). */
export const pruneVmHandler: JobHandler<"prune.vm"> = async ({ db, input, settings, jobId }) => {
  const result = await pruneVm(
    db,
    await catalogRepository(settings.config.repository),
    input.policyId,
    input.vmId,
  );
  if (result.deleted.length > 0) {
    const policy = await db.policy.findUnique({
      where: { id: input.policyId },
      select: { name: true, teamId: true },
    });
    // Who deleted what, in the audit log: the policy's retention, by this job.
    await recordAudit(db, {
      action: "restore-point.pruned",
      outcome: "success",
      teamId: policy?.teamId ?? null,
      targetType: "vm",
      targetId: input.vmId,
      details: {
        jobId,
        policyId: input.policyId,
        policy: policy?.name,
        deleted: result.deleted,
        kept: result.kept,
      },
    });
  }
  return { ...result };
};

/** Deletes one restore point after its deletion was approved. */
export const restorePointDelete: JobHandler<"restore-point.delete"> = async ({ db, input, settings }) => {
  const outcome = await deleteRestorePoint(
    db,
    await catalogRepository(settings.config.repository),
    input.restorePointId,
  );
  if (outcome === "pinned")
    throw new Error("The restore point was pinned after its deletion was approved; nothing was deleted.");
  if (outcome === "busy")
    throw new Error(
      "A restore or verification uses the restore point now; nothing was deleted. Ask again later.",
    );
  return { restorePointId: input.restorePointId, outcome };
};
