import { catalogRepository } from "@lifeboat/domain";
import { durable, type JobHandler } from "../job-context";
import { throwIfDamaged, verificationResult, verifyAndRecord } from "../jobs/verification";

/**
 * verify: re-reads and re-hashes every chunk of the job's restore point (or of the whole repository when the
 * job names none). Damage fails the job, naming the bad chunks and the restore points they break, and marks
 * those restore points failed (restores refuse them); intact ones become verified.
 */
export const verify: JobHandler<"verify"> = async (raw) => {
  const ctx = durable(raw);
  const repository = await catalogRepository(ctx.settings.config.repository);
  const outcome = await verifyAndRecord(ctx.db, ctx.run, repository, ctx.run.job.restorePointId ?? undefined);
  throwIfDamaged(outcome);
  ctx.run.event("info", "verify", `${outcome.report.checked.chunks} chunks verified, no damage`);
  return verificationResult(outcome);
};
