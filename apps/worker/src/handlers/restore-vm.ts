import { catalogRepository } from "@lifeboat/domain";
import type { JobRun } from "@lifeboat/jobs";
import { type EngineClient, EngineError, FlowError, restoreVm as restoreVmFlow } from "@lifeboat/ovirt-core";
import { durable, type JobHandler } from "../job-context";
import { withEngineJob } from "../jobs/engine-job";
import { restorePointOf, verifiedManifest } from "../jobs/restore-point";

const REMOVE_DEADLINE_MS = 30 * 60_000;

/**
 * restore.vm: the job's restore point as a new VM through ovirt-core's restoreVm flow, after the restore point
 * verified intact. An approved restore over an existing VM first removes that VM (the one approved, by id) with
 * its disks — a running VM is not stopped: the engine refuses and the job fails in its words. A later attempt
 * (after a dead worker) removes what the earlier one created and restores again.
 */
export const restoreVm: JobHandler<"restore.vm"> = async (raw) => {
  const ctx = durable(raw);
  const { run, input } = ctx;
  const rp = await restorePointOf(ctx);
  const repository = await catalogRepository(ctx.settings.config.repository);
  // The engine chosen for the restore; jobs queued before restores could cross engines name none.
  const engineId = input.engineId ?? rp.engineId;
  return withEngineJob(ctx, engineId, async ({ engine, imageio }) => {
    const manifest = await verifiedManifest(ctx, repository, rp);
    if (input.replaceVm) await removeReplacedVm(run, engine, input.replaceVm);
    run.setPhase(`restoring ${rp.vmName} as ${input.name}`);
    try {
      const result = await restoreVmFlow({
        ...run.hooks(),
        engine,
        imageio,
        repository,
        restorePoint: manifest,
        target: {
          name: input.name,
          cluster: input.cluster,
          storageDomain: input.storageDomain,
          identity: input.identity,
        },
        verify: false,
        jobRef: `job ${run.jobId}`,
      });
      return await ctx.complete({
        vmId: result.vmId,
        name: input.name,
        identity: result.identity,
        disks: result.disks,
        ...(input.replaceVm ? { replacedVm: input.replaceVm } : {}),
      });
    } catch (e) {
      if (e instanceof FlowError) await run.leftovers(engineId, e.leftovers);
      throw e;
    }
  });
};

/** Removes the VM an approved restore replaces, with its disks, and waits until the engine no longer lists it. */
async function removeReplacedVm(run: JobRun, engine: EngineClient, replace: { id: string; name: string }) {
  const gone = (e: unknown) => e instanceof EngineError && e.isNotFound;
  let name = replace.name;
  try {
    name = (await engine.vms.get(replace.id, { signal: run.signal })).name;
  } catch (e) {
    if (!gone(e)) throw e;
    run.event("info", "replace", `the VM ${replace.name} (${replace.id}) to replace is already gone`);
    return;
  }
  run.setPhase(`removing the VM ${name} that the restore replaces`);
  run.event(
    "warn",
    "replace",
    `removing the existing VM ${name} (${replace.id}) and its disks, as approved`,
    {
      vmId: replace.id,
    },
  );
  await engine.vms.remove(replace.id, { detachOnly: false, signal: run.signal });
  const deadline = Date.now() + REMOVE_DEADLINE_MS;
  for (;;) {
    try {
      await engine.vms.get(replace.id, { signal: run.signal });
    } catch (e) {
      if (gone(e)) break;
      throw e;
    }
    if (Date.now() > deadline) throw new Error(`the engine did not remove VM ${name} within 30 minutes`);
    await new Promise((r) => setTimeout(r, engine.pollIntervalMs));
    run.signal.throwIfAborted();
  }
  run.event("info", "replace", `VM ${name} removed`);
}
