import { randomUUID } from "node:crypto";
import type { Repository, WriterSession } from "@lifeboat/repository";
import { type BackupDisk, type EngineClient, EngineError } from "../engine";
import type { ImageSegment } from "../imageio";
import { type DiskPlan, disksToBackUp, vmFacts } from "./backup";
import { cleanupRecords, removeSnapshot } from "./cleanup";
import { engineWords, errorText, FlowContext, isNotFound } from "./context";
import { pointView, type RestorePointDocument } from "./manifest";
import { FlowTransfer } from "./transfer";
import type { BackupDiskResult, BackupOptions, BackupResult, EngineObjectRecord, KnownLayer } from "./types";

/** What the previous backup-API restore point of the VM left for an incremental: its checkpoint and layers. */
export interface PreviousBackupPoint {
  restorePointId?: string;
  /** The previous point's `checkpointId` (the engine's to_checkpoint_id then). */
  checkpointId: string;
  /** The previous point's layer of a disk (its guest data), if it has one. */
  layer(diskId: string): Promise<KnownLayer | undefined>;
}

export interface BackupApiOptions extends Omit<BackupOptions, "knownLayer" | "keepSnapshot"> {
  /** Incremental from this point where the engine allows it; omitted → a full backup of every disk. */
  previous?: PreviousBackupPoint;
  /** Live mode (scratch disks) on cluster level ≥ 4.7 instead of the hybrid snapshot mode. */
  legacy?: boolean;
}

export interface BackupApiDiskResult extends BackupDiskResult {
  mode: "full" | "incremental";
  /** Bytes read from imageio (data, not zero runs). */
  transferredBytes: number;
  /** Bytes of the disk this point changed: the dirty extents, or the whole disk for a full. */
  changedBytes: number;
}

export interface BackupApiResult extends Omit<BackupResult, "snapshot" | "disks"> {
  mode: "full" | "incremental";
  disks: BackupApiDiskResult[];
  backupId: string;
  /** The checkpoint this backup made: the next incremental's start. Reported once the restore point is durable. */
  checkpointId?: string;
  /** The checkpoint the engine's backup started from (undefined for a full, also after a refused incremental). */
  fromCheckpointId?: string;
}

/**
 * Why the engine refused an incremental from checkpoint `from`, if it refused because of the checkpoint (ref
 * §4.7): a 409 naming it missing or invalid, or a 404 — the checkpoint entity is gone (removed behind our back
 * after we looked). A 404 names no entity, so it counts only when the checkpoint itself now answers 404 (or
 * turned invalid); anything else (the VM gone) is not a checkpoint refusal and fails the backup.
 */
async function checkpointRefusal(
  e: unknown,
  engine: EngineClient,
  vmId: string,
  from: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  if (!(e instanceof EngineError)) return undefined;
  const words = engineWords(e) ?? errorText(e);
  if (e.status === 409)
    return /Checkpoint .* (does not exist|is invalid)/i.test(`${e.reason ?? ""} ${e.detail ?? ""}`)
      ? words
      : undefined;
  if (e.status !== 404) return undefined;
  try {
    const c = await engine.checkpoints.get(vmId, from, { signal });
    return c.state === "invalid" ? `${words}; checkpoint ${from} is invalid` : undefined;
  } catch (probe) {
    return isNotFound(probe) ? `${words}; checkpoint ${from} is gone from the engine` : undefined;
  }
}

/**
 * Backs up one VM through the engine's backup API (design §2b): OVF first, then a VM backup (incremental from
 * the previous point's checkpoint where it is valid), per disk an image transfer of the backup in format raw
 * read by its extents — `context=dirty` for incremental disks, written against the previous point's layer so
 * only changed chunks are stored, `context=zero` for full ones — into ONE repository session. Transfers are
 * finalized, then the backup, then the restore point is written; only then is the new checkpoint reported.
 * Whatever this run created (transfers, the backup) is ended on every exit path, transfers first.
 */
export async function backupVmWithBackupApi(opts: BackupApiOptions): Promise<BackupApiResult> {
  const { engine, repository } = opts;
  const journal: EngineObjectRecord[] = [];
  const record = async (r: EngineObjectRecord) => {
    journal.push(r);
    await opts.onEngineObject?.(r);
  };
  const flow = new FlowContext({ ...opts, onEngineObject: record }, opts.deadlines);
  let session: WriterSession | undefined;
  let success = false;
  try {
    flow.step = "read VM";
    const vm = await engine.vms.get(opts.vmId, { signal: flow.signal });
    // Pre-flight (field failures row 9): one backup per VM. Another one (another tool's) locks the disks, and
    // the OVF would be waited for until it ends: say so at once instead.
    flow.step = "check VM";
    const busy = (await engine.backups.list(opts.vmId, { signal: flow.signal })).find(
      (b) => b.phase !== "succeeded" && b.phase !== "failed",
    );
    if (busy)
      throw new Error(
        `VM ${vm.name} is during a backup operation: backup ${busy.id} (${busy.phase}${busy.description ? `, "${busy.description}"` : ""}) holds it; try again once it ended`,
      );
    flow.step = "read OVF";
    const ovf = await engine.vms.waitForOvf(opts.vmId, flow.wait(flow.deadlines.ovfMs));
    const facts = await vmFacts(engine, vm, ovf, flow);
    flow.event("info", "read OVF", `VM ${vm.name}: OVF read (${ovf.length} bytes)`);

    flow.step = "list disks";
    const plans = await disksToBackUp(engine, opts.vmId, flow);
    if (plans.length === 0) throw new Error(`VM ${vm.name} has no image disk to back up`);
    session = await repository.openSession(`backup of VM ${vm.name} (${opts.jobRef})`);

    flow.step = "start backup";
    let from = await usableCheckpoint(flow, engine, opts);
    let backupId = randomUUID();
    const start = async (fromCheckpointId: string | undefined) => {
      // The id is ours and journaled before the call (field failures row 3): a lost answer or a crash
      // still leaves a successor the backup to finish.
      await flow.record({
        kind: "backup",
        id: backupId,
        vmId: opts.vmId,
        state: "created",
        purpose: "VM backup",
      });
      return engine.backups.start(
        opts.vmId,
        {
          id: backupId,
          disks: plans.map((p) => p.disk.id),
          fromCheckpointId,
          description: `Lifeboat backup ${opts.jobRef}`,
          legacy: opts.legacy,
          correlationId: opts.jobRef,
        },
        { signal: flow.signal },
      );
    };
    try {
      await start(from);
    } catch (e) {
      // The checkpoint went bad (or away) between our look and the start: a full backup instead.
      const why =
        from === undefined ? undefined : await checkpointRefusal(e, engine, opts.vmId, from, flow.signal);
      if (why === undefined) throw e;
      flow.event(
        "warn",
        flow.step,
        `the engine refused an incremental from checkpoint ${from} (${why}): full backup`,
        {
          checkpointId: from,
        },
      );
      await flow.record({
        kind: "backup",
        id: backupId,
        vmId: opts.vmId,
        state: "removed",
        purpose: "VM backup",
      });
      from = undefined;
      backupId = randomUUID();
      await start(undefined);
    }
    const ready = await engine.backups.waitReady(opts.vmId, backupId, flow.wait(flow.deadlines.backupMs));
    // Hybrid mode: the snapshot the engine took for the backup, and removes when it is finalized.
    const backupSnapshotId = ready.snapshot?.id;
    const modes = new Map(
      (await engine.backups.disks(opts.vmId, backupId, { signal: flow.signal })).map(
        (d): [string, BackupDisk] => [d.id, d],
      ),
    );
    flow.event(
      "info",
      flow.step,
      `backup ${backupId} ready${from ? ` (from checkpoint ${from})` : " (full)"}`,
      {
        backupId,
        fromCheckpointId: from,
      },
    );

    const total = plans.reduce((s, p) => s + Number(p.disk.provisionedSize ?? 0n), 0);
    flow.progress.begin("download", total);
    const done: BackupApiDiskResult[] = [];
    let newStoredBytes = 0;
    for (const plan of plans) {
      flow.step = `download ${plan.disk.alias ?? plan.disk.id}`;
      const r = await backupDisk(flow, opts, session, backupId, plan, from, modes.get(plan.disk.id));
      newStoredBytes += r.added;
      done.push(r.disk);
    }

    flow.step = "finalize backup";
    const outcome = await engine.backups.finalizeAndWait(
      opts.vmId,
      backupId,
      flow.wait(flow.deadlines.backupMs),
    );
    await flow.record({
      kind: "backup",
      id: backupId,
      vmId: opts.vmId,
      state: "removed",
      purpose: "VM backup",
    });

    flow.step = "write restore point";
    flow.progress.begin("finishing", 0);
    const mode = done.some((d) => d.mode === "incremental") ? "incremental" : "full";
    const transferredBytes = done.reduce((s, d) => s + d.transferredBytes, 0);
    const document: RestorePointDocument = {
      id: opts.restorePointId,
      vm: { ...facts, clusterId: vm.cluster?.id },
      engine: { url: engine.baseUrl },
      ovf,
      disks: done.map((d) => {
        const plan = plans.find((p) => p.disk.id === d.diskId) as DiskPlan;
        return {
          diskId: d.diskId,
          alias: d.alias,
          description: plan.disk.description,
          interface: d.interface,
          bootable: d.bootable,
          active: plan.attachment.active ?? true,
          readOnly: plan.attachment.readOnly ?? false,
          passDiscard: plan.attachment.passDiscard ?? false,
          provisionedSize: d.provisionedSize,
          format: d.format,
          sparse: plan.disk.sparse,
          storageDomain: d.storageDomain,
          mode: d.mode,
          transferredBytes: d.transferredBytes,
          changedBytes: d.changedBytes,
          layers: d.layers.map(({ reused: _, ...l }) => ({ ...l, content: "guest" as const })),
        };
      }),
      tags: opts.tags ?? [],
      description: opts.description ?? "",
      mode,
      jobRef: opts.jobRef,
      checkpointId: outcome.toCheckpointId,
      transferredBytes,
    };
    const restorePoint = await repository.writeRestorePoint(document, { session });
    success = true;
    await session.close();
    flow.event("info", "write restore point", `restore point ${restorePoint.id} written (${mode})`, {
      transferredBytes,
      newStoredBytes,
    });
    if (backupSnapshotId) await removeLeftBackupSnapshot(flow, engine, opts.vmId, backupSnapshotId);
    // Only now may the catalog start an incremental from it: the data it depends on is durable.
    if (outcome.toCheckpointId)
      flow.event("info", "checkpoint", `checkpoint ${outcome.toCheckpointId} recorded`, {
        checkpointId: outcome.toCheckpointId,
      });
    return {
      restorePoint,
      vm: facts,
      ovf,
      mode,
      disks: done,
      backupId,
      checkpointId: outcome.toCheckpointId,
      fromCheckpointId: from,
      transferredBytes,
      newStoredBytes,
      leftovers: flow.leftovers,
    };
  } catch (e) {
    const error = flow.fail(e);
    flow.event("error", error.step, error.message);
    // Transfers first: the engine refuses to finalize a backup while one of its transfers is open.
    if (!success) await cleanupRecords(flow, engine, journal);
    throw flow.fail(error);
  } finally {
    await session?.close().catch(() => undefined);
  }
}

/**
 * Field failures row 4: an engine may finalize a hybrid backup and still leave its snapshot ("Auto-generated
 * for Backup VM") behind, only logging it. Lifeboat removes it; what it cannot remove is a leftover of the job,
 * never silently kept. The backup itself stands either way.
 */
async function removeLeftBackupSnapshot(
  flow: FlowContext,
  engine: EngineClient,
  vmId: string,
  snapshotId: string,
): Promise<void> {
  flow.step = "remove backup snapshot";
  try {
    try {
      await engine.snapshots.get(vmId, snapshotId);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    flow.event(
      "warn",
      flow.step,
      `the engine finalized the backup but left its snapshot ${snapshotId} behind: removing it`,
      { snapshotId },
    );
    await removeSnapshot(flow, engine, vmId, snapshotId, flow.deadline(flow.deadlines.snapshotRemoveMs));
    flow.event("info", flow.step, `removed the backup's snapshot ${snapshotId}`, { snapshotId });
  } catch (e) {
    flow.leftover({
      kind: "snapshot",
      id: snapshotId,
      vmId,
      description: "snapshot of a hybrid backup the engine did not remove",
      error: engineWords(e) ?? errorText(e),
    });
  }
}

/** The previous point's checkpoint if the engine still has it valid; else undefined, saying why. */
async function usableCheckpoint(
  flow: FlowContext,
  engine: EngineClient,
  opts: BackupApiOptions,
): Promise<string | undefined> {
  const id = opts.previous?.checkpointId;
  if (!id) return undefined;
  try {
    const c = await engine.checkpoints.get(opts.vmId, id, { signal: flow.signal });
    if (c.state === "invalid") {
      flow.event("warn", flow.step, `checkpoint ${id} is invalid on the engine: full backup of every disk`, {
        checkpointId: id,
      });
      return undefined;
    }
    return id;
  } catch (e) {
    if (!isNotFound(e)) throw e;
    flow.event("warn", flow.step, `checkpoint ${id} is missing on the engine: full backup of every disk`, {
      checkpointId: id,
    });
    return undefined;
  }
}

/** The layer an incremental of this disk is written against, if the engine and the repository allow one. */
async function baseLayer(
  flow: FlowContext,
  opts: BackupApiOptions,
  plan: DiskPlan,
  from: string | undefined,
  backupDisk: BackupDisk | undefined,
): Promise<{ layerId: string } | undefined> {
  if (from === undefined) return undefined;
  const name = plan.disk.alias ?? plan.disk.id;
  const why = (reason: string) => {
    flow.event("warn", flow.step, `disk ${name}: full backup, ${reason}`, { diskId: plan.disk.id });
    return undefined;
  };
  if (backupDisk?.backupMode !== "incremental")
    return why(`the engine backs it up in full (backup_mode ${backupDisk?.backupMode ?? "unknown"})`);
  const known = await opts.previous?.layer(plan.disk.id);
  if (!known) return why("the previous restore point has no layer of it");
  try {
    const m = await opts.repository.readLayerManifest(known.layerId);
    if (m.sha256 !== known.sha256)
      return why(`layer ${known.layerId} is not the one the previous point names`);
  } catch (e) {
    return why(`its previous layer ${known.layerId} cannot be read (${errorText(e)})`);
  }
  return { layerId: known.layerId };
}

/** One disk: transfer of the backup (raw), extents-driven read into the repository, finalize. */
async function backupDisk(
  flow: FlowContext,
  opts: BackupApiOptions,
  session: WriterSession,
  backupId: string,
  plan: DiskPlan,
  from: string | undefined,
  backupDisk: BackupDisk | undefined,
): Promise<{ disk: BackupApiDiskResult; added: number }> {
  const { disk, attachment } = plan;
  const name = disk.alias ?? disk.id;
  const size = Number(disk.provisionedSize ?? 0n);
  const base = await baseLayer(flow, opts, plan, from, backupDisk);
  const mode = base ? "incremental" : "full";
  const t = await FlowTransfer.start(
    flow,
    opts.engine,
    { direction: "download", diskId: disk.id, backup: backupId, format: "raw" },
    "backup disk download",
    opts.jobRef,
  );
  try {
    let transferredBytes = 0;
    let changedBytes = 0;
    let written: Awaited<ReturnType<Repository["writeLayer"]>>;
    const ticket = await t.open(opts.imageio);
    try {
      // With context=dirty the gaps between segments are unchanged: the repository keeps the base's bytes.
      const segments = ticket.download({ context: base ? "dirty" : "zero", signal: flow.signal });
      async function* counted(): AsyncGenerator<ImageSegment> {
        for await (const s of segments) {
          if (s.zero) changedBytes += s.length;
          else {
            changedBytes += s.data.length;
            transferredBytes += s.data.length;
          }
          flow.progress.add(s.zero ? (base ? 0 : s.length) : s.data.length);
          yield s;
        }
      }
      flow.event(
        "info",
        flow.step,
        base
          ? `disk ${name}: reading what changed since checkpoint ${from}`
          : `disk ${name}: reading its ${size} bytes of guest data`,
        { diskId: disk.id, mode },
      );
      written = await opts.repository.writeLayer(
        counted(),
        {
          imageId: disk.imageId ?? disk.id,
          diskId: disk.id,
          vmId: opts.vmId,
          format: "raw",
          content: "guest",
        },
        { session, signal: flow.signal, sparseSource: true, expectedSize: size, base: base?.layerId },
      );
    } finally {
      await ticket.close();
    }
    await t.finalize();
    if (!base) changedBytes = size;
    flow.event(
      "info",
      flow.step,
      `disk ${name}: ${transferredBytes} bytes read, ${written.newChunks} new chunks`,
      {
        diskId: disk.id,
        layerId: written.layerId,
        mode,
        transferredBytes,
        changedBytes,
        newChunks: written.newChunks,
        reusedChunks: written.reusedChunks,
      },
    );
    const sd = disk.storageDomains[0];
    return {
      added: written.addedBytes,
      disk: {
        diskId: disk.id,
        alias: disk.alias ?? disk.name ?? disk.id,
        interface: attachment.interface,
        bootable: attachment.bootable ?? false,
        provisionedSize: size,
        format: disk.format === "raw" ? "raw" : "cow",
        storageDomain: sd ? { id: sd.id, ...(sd.name ? { name: sd.name } : {}) } : undefined,
        mode,
        transferredBytes,
        changedBytes,
        layers: [
          {
            imageId: disk.imageId ?? disk.id,
            parentImageId: null,
            format: "raw",
            virtualSize: size,
            size: written.manifest.size,
            sha256: written.manifest.sha256,
            layerId: written.layerId,
            reused: false,
          },
        ],
      },
    };
  } catch (e) {
    await t.cancel();
    throw e;
  }
}

/**
 * The newest restore point of a VM in the repository made through the backup API with a checkpoint: what an
 * incremental starts from (the CLI's source; the worker may use the catalog instead).
 */
export async function previousBackupPoint(
  repository: Repository,
  vmId: string,
): Promise<PreviousBackupPoint | undefined> {
  const points = (await repository.listRestorePoints()).filter(
    (p) => p.vm.id === vmId && typeof p.checkpointId === "string",
  );
  const newest = points[points.length - 1];
  if (!newest) return undefined;
  const view = pointView(newest);
  return {
    restorePointId: newest.id,
    checkpointId: newest.checkpointId as string,
    async layer(diskId) {
      const l = view.disks.find((d) => d.diskId === diskId)?.layers;
      const only = l?.length === 1 ? l[0] : undefined;
      return only && only.content === "guest"
        ? { layerId: only.layerId, sha256: only.sha256, size: only.size }
        : undefined;
    },
  };
}
