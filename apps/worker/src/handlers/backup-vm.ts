import { randomUUID } from "node:crypto";
import type { Db } from "@lifeboat/db";
import {
  catalogRepository,
  knownLayerFromCatalog,
  previousBackupPointFromCatalog,
  recordBackup,
  recordUsageAfterBackup,
} from "@lifeboat/domain";
import type { JobRun } from "@lifeboat/jobs";
import { JobFailure } from "@lifeboat/jobs";
import {
  type BackupApiResult,
  type BackupResult,
  backupCapability,
  backupVm as backupVmFlow,
  backupVmWithBackupApi,
  FlowError,
  firstKnown,
  type PreviousBackupPoint,
  pruneCheckpoints,
  storedLayers,
} from "@lifeboat/ovirt-core";
import type { Repository } from "@lifeboat/repository";
import { durable, type JobHandler } from "../job-context";
import { withEngineJob } from "../jobs/engine-job";

/**
 * backup.vm: one backup of the job's VM into the repository, in the job's mode: `auto` takes the engine's backup
 * API (backupVmWithBackupApi: incremental from the VM's newest restore point with a checkpoint, else full) where
 * backupCapability offers incremental backups, else the snapshot chain (backupVm), as the CLI does. The restore
 * point, its disks and layers and the refreshed VM row are recorded in the same transaction as the job's
 * success — or not at all (then the repository's copy of the restore point is deleted too). A later attempt
 * (after a dead worker) cleans the engine up, drops the earlier attempt's unrecorded restore point, and backs
 * the VM up again, reusing the layers the earlier attempt already stored.
 */
export const backupVm: JobHandler<"backup.vm"> = async (raw) => {
  const ctx = durable(raw);
  const { db, run, input } = ctx;
  const job = run.job;
  if (!job.vmId) throw new JobFailure("This backup job names no VM.");
  const vm = await db.vm.findUnique({ where: { id: job.vmId } });
  if (!vm) throw new JobFailure("The VM of this backup is no longer in the catalog.");
  const repository = await catalogRepository(ctx.settings.config.repository);
  if (run.attempt > 1) await dropUnrecordedPoints(db, run, repository);
  return withEngineJob(ctx, vm.engineId, async ({ engine, imageio, row }) => {
    const restorePointId = randomUUID();
    run.event("info", "start", `attempt ${run.attempt}: backing up VM ${vm.name} from ${row.name}`, {
      attempt: run.attempt,
      restorePointId,
    });
    run.setPhase(`backing up ${vm.name}`);
    let method: "backup-api" | "snapshot-chain" =
      input.mode === "snapshot-chain" ? "snapshot-chain" : "backup-api";
    if (input.mode === "auto" && input.keepSnapshot) {
      // Only the snapshot chain has a temporary snapshot to keep.
      method = "snapshot-chain";
      run.event("info", "mode", "snapshot chain: the temporary snapshot is to be kept");
    } else if (input.mode === "auto") {
      const capability = await backupCapability(engine, vm.vmId, { signal: run.signal });
      method = capability.method;
      run.event("info", "mode", capability.reason, { method, clusterLevel: capability.clusterLevel });
    }
    const common = {
      ...run.hooks(),
      engine,
      imageio,
      vmId: vm.vmId,
      repository,
      restorePointId,
      description: input.description,
      tags: input.tags,
      jobRef: `job ${job.id}`,
    };
    let result: BackupResult | BackupApiResult;
    try {
      if (method === "backup-api") {
        let previous: PreviousBackupPoint | undefined;
        if (input.mode !== "full") {
          previous = await previousBackupPointFromCatalog(db, vm.id);
          if (!previous && input.mode === "incremental")
            run.event(
              "warn",
              "mode",
              `an incremental backup was asked, but no restore point of ${vm.name} has an engine checkpoint to start from: full backup`,
            );
          else if (previous)
            run.event(
              "info",
              "mode",
              `incremental from restore point ${previous.restorePointId} (checkpoint ${previous.checkpointId}) if the engine still has its checkpoint`,
              { restorePointId: previous.restorePointId, checkpointId: previous.checkpointId },
            );
        }
        result = await backupVmWithBackupApi({ ...common, previous });
      } else {
        const fromCatalog = knownLayerFromCatalog(db, vm.engineId);
        result = await backupVmFlow({
          ...common,
          // A resumed attempt first looks at what the dead one already stored (in the repository, not the catalog).
          knownLayer:
            run.attempt > 1 ? firstKnown(storedLayers(repository, vm.vmId), fromCatalog) : fromCatalog,
          keepSnapshot: input.keepSnapshot,
        });
      }
    } catch (e) {
      if (e instanceof FlowError) await run.leftovers(vm.engineId, e.leftovers);
      throw e;
    }
    await run.leftovers(vm.engineId, result.leftovers);
    const layers = result.disks.flatMap((d) => d.layers);
    const api = "backupId" in result ? result : undefined;
    const summary = {
      restorePointId: result.restorePoint.id,
      vmName: result.vm.name,
      mode: api ? api.mode : "snapshot-chain",
      fromCheckpointId: api?.fromCheckpointId ?? null,
      checkpointId: api?.checkpointId ?? null,
      disks: result.disks.length,
      layers: layers.length,
      reusedLayers: layers.filter((l) => l.reused).length,
      transferredBytes: result.transferredBytes,
      // Backup API: what the engine said changed (the dirty extents; the whole disk for a full), beside what was read.
      changedBytes: api ? api.disks.reduce((n, d) => n + d.changedBytes, 0) : null,
      newStoredBytes: result.newStoredBytes,
      snapshotKept: "snapshot" in result ? result.snapshot.kept : false,
      leftovers: result.leftovers.map((l) => ({
        kind: l.kind,
        id: l.id,
        description: l.description,
        error: l.error,
      })),
    };
    let done: Record<string, unknown>;
    try {
      done = await ctx.complete(summary, async (tx) => {
        await recordBackup(tx, {
          vm,
          result,
          jobId: job.id,
          policyId: job.policyId,
          description: input.description,
          tags: input.tags,
        });
        await tx.job.update({ where: { id: job.id }, data: { restorePointId: result.restorePoint.id } });
      });
    } catch (e) {
      // Not in the catalog: the repository must not keep a restore point nobody can see (unless the commit did
      // land and only its answer was lost).
      if (
        !(await db.restorePoint.findUnique({ where: { id: result.restorePoint.id }, select: { id: true } }))
      )
        await repository.deleteRestorePoint(result.restorePoint.id).catch(() => undefined);
      throw e;
    }
    // The repository usage chart moves with every backup (an estimate until the next garbage collection).
    await recordUsageAfterBackup(db, result.restorePoint.id).catch((e) =>
      console.error(`[worker] job ${job.id}: recording repository usage failed`, e),
    );
    // The point (and the checkpoint it names, the next incremental's start) is recorded: the engine keeps a
    // bounded chain of checkpoints. A removal that fails is a warning, never a failed backup.
    if (api?.checkpointId)
      await pruneCheckpoints({
        engine,
        vmId: vm.vmId,
        keep: ctx.settings.checkpointChain,
        protect: api.checkpointId,
        onEvent: run.hooks().onEvent,
      }).catch((e) => run.event("warn", "checkpoints", `pruning checkpoints failed: ${String(e)}`));
    return done;
  });
};

/** Deletes the repository restore points earlier attempts of this job wrote but the catalog never recorded. */
async function dropUnrecordedPoints(db: Db, run: JobRun, repository: Repository): Promise<void> {
  const starts = await db.jobEvent.findMany({
    where: { jobId: run.jobId, step: "start" },
    select: { details: true },
  });
  for (const s of starts) {
    const id = (s.details as { restorePointId?: unknown } | null)?.restorePointId;
    if (typeof id !== "string") continue;
    if (await db.restorePoint.findUnique({ where: { id }, select: { id: true } })) continue;
    if (await repository.deleteRestorePoint(id).catch(() => false))
      run.event(
        "warn",
        "recover",
        `removed restore point ${id} of an earlier attempt from the repository: the catalog never recorded it`,
      );
  }
}
