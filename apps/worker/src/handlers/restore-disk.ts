import { catalogRepository } from "@lifeboat/domain";
import { FlowError, restoreDisk as restoreDiskFlow } from "@lifeboat/ovirt-core";
import { durable, type JobHandler } from "../job-context";
import { withEngineJob } from "../jobs/engine-job";
import { restorePointOf, verifiedManifest } from "../jobs/restore-point";

/**
 * restore.disk: one disk of the job's restore point as a new floating disk (ovirt-core's restoreDisk flow),
 * after the restore point verified intact.
 */
export const restoreDisk: JobHandler<"restore.disk"> = async (raw) => {
  const ctx = durable(raw);
  const { run, input } = ctx;
  const rp = await restorePointOf(ctx);
  const repository = await catalogRepository(ctx.settings.config.repository);
  // The engine chosen for the restore; jobs queued before restores could cross engines name none.
  const engineId = input.engineId ?? rp.engineId;
  return withEngineJob(ctx, engineId, async ({ engine, imageio }) => {
    const manifest = await verifiedManifest(ctx, repository, rp);
    run.setPhase(`restoring a disk of ${rp.vmName} as ${input.alias}`);
    try {
      const result = await restoreDiskFlow({
        ...run.hooks(),
        engine,
        imageio,
        repository,
        restorePoint: manifest,
        diskId: input.diskId,
        target: { alias: input.alias, storageDomain: input.storageDomain, format: input.format },
        verify: false,
        jobRef: `job ${run.jobId}`,
      });
      return await ctx.complete({ diskId: result.diskId, alias: input.alias });
    } catch (e) {
      if (e instanceof FlowError) await run.leftovers(engineId, e.leftovers);
      throw e;
    }
  });
};
