import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { Qcow2Volume } from "@lifeboat/disk-image";
import { HYBRID_BACKUP_SNAPSHOT_DESCRIPTION } from "@lifeboat/ovirt-protocol";
import type { BackupDiskRec, BackupRec, CheckpointRec, ClusterLevel, DiskRec, VmRec } from "../model";
import { isGuid, newId } from "../util/ids";
import { addRange } from "../util/ranges";
import { openVolumeChain, type VolumeLayer } from "../volumes/chain";
import { openGuestView } from "../volumes/guest-view";
import type { Engine } from "./engine";
import { badRequest, conflict, inBool, inStr, listOf, notFound, obj } from "./faults";

const MiB = 2 ** 20;
const COPY_PIECE = 8 * MiB;

/** Phases in which a backup holds the VM (one backup per VM, disks locked). */
const ACTIVE_PHASES = new Set(["initializing", "starting", "ready", "finalizing"]);

/** `IsIncrementalBackupSupported`: cluster level 4.5 and later (4.4 had it as a tech preview). */
export const incrementalSupported = (level: ClusterLevel) => Number(level) >= 4.5;
/** `UseHybridBackup`: snapshot-based backups from cluster level 4.7. */
export const hybridDefault = (level: ClusterLevel) => Number(level) >= 4.7;

/**
 * The engine's VM backup API (ovirt-protocol.md §3.8, §3.9, §4.7): backups and their phases, checkpoints,
 * and per-disk dirty bitmaps kept in the disk records (what qcow2 bitmaps hold on a real host).
 *
 * The point in time of a backup: hybrid mode takes a VM snapshot and reads the chain up to the snapshot's
 * volume (the guest writes into the new overlay); live mode freezes a copy of the active chain into a
 * scratch volume on the storage domain. The dirty ranges since `from_checkpoint_id` are frozen at the same
 * moment, under the disk's mutex, so they describe exactly the data the backup serves.
 */
export class BackupManager {
  constructor(private readonly engine: Engine) {}

  private get data() {
    return this.engine.data;
  }

  get(vmId: string, id: string): BackupRec {
    const b = this.data.backups.find((x) => x.vmId === vmId && x.id === id);
    if (!b) throw notFound(id);
    return b;
  }

  byId(id: string): BackupRec | undefined {
    return this.data.backups.find((x) => x.id === id);
  }

  list(vmId: string): BackupRec[] {
    return this.data.backups.filter((b) => b.vmId === vmId);
  }

  active(vmId: string): BackupRec | undefined {
    return this.data.backups.find((b) => b.vmId === vmId && ACTIVE_PHASES.has(b.phase));
  }

  isVmDuringBackup(vmId: string): boolean {
    return this.active(vmId) !== undefined;
  }

  /** 409 "The VM is during a backup operation", as every VM and disk command of the engine says it. */
  assertNoBackup(vm: VmRec, action: string, type: string): void {
    if (this.isVmDuringBackup(vm.id))
      throw conflict(`Cannot ${action} ${type}. The VM is during a backup operation.`);
  }

  private touch(b: BackupRec, phase?: BackupRec["phase"]): void {
    if (phase) b.phase = phase;
    b.modificationDate = this.engine.now();
  }

  // ---------- checkpoints ----------

  checkpoints(vmId: string): CheckpointRec[] {
    this.applyCheckpointFaults();
    const mine = this.data.checkpoints
      .filter((c) => c.vmId === vmId && !c.pending)
      .sort((a, b) => a.creationDate - b.creationDate);
    // Oldest first: the root, then each child by parent_id.
    const out: CheckpointRec[] = [];
    let next = mine.find((c) => c.parentId === null || !mine.some((x) => x.id === c.parentId));
    while (next && !out.includes(next)) {
      out.push(next);
      const id: string = next.id;
      next = mine.find((c) => c.parentId === id);
    }
    for (const c of mine) if (!out.includes(c)) out.push(c);
    return out;
  }

  checkpoint(vmId: string, id: string): CheckpointRec {
    const c = this.checkpoints(vmId).find((x) => x.id === id);
    if (!c) throw notFound(id);
    return c;
  }

  /** `DELETE /vms/{vm}/checkpoints/{id}`: only the root (oldest) one; its bitmaps go with it. */
  removeCheckpoint(vmId: string, id: string): void {
    const vm = this.engine.vm(vmId);
    const all = this.checkpoints(vm.id);
    const c = all.find((x) => x.id === id);
    if (!c) throw notFound(id);
    this.assertNoBackup(vm, "remove", "VM Checkpoint");
    if (all[0] !== c)
      throw conflict(
        `Cannot remove VM Checkpoint. Checkpoint ${id} is not the root checkpoint of VM ${vm.name}: remove the oldest checkpoint first.`,
      );
    this.dropCheckpoint(c);
    this.engine.event("normal", 10812, `VM ${vm.name} checkpoint ${id} was removed.`, { vmId: vm.id });
    this.engine.save();
  }

  private dropCheckpoint(c: CheckpointRec): void {
    this.data.checkpoints = this.data.checkpoints.filter((x) => x !== c);
    for (const x of this.data.checkpoints) if (x.parentId === c.id) x.parentId = null;
    for (const d of this.data.disks)
      if (d.bitmaps) d.bitmaps = d.bitmaps.filter((b) => b.checkpointId !== c.id);
  }

  /** A disk left the VM (or its data was replaced): the VM's checkpoints over it cannot be trusted. */
  invalidateForDisk(vm: VmRec, disk: DiskRec, why: string): void {
    let n = 0;
    for (const c of this.data.checkpoints)
      if (c.vmId === vm.id && c.diskIds.includes(disk.id) && c.state !== "invalid") {
        c.state = "invalid";
        n++;
      }
    delete disk.bitmaps;
    if (n > 0)
      this.engine.event("warning", 10813, `VM ${vm.name} checkpoints were invalidated: ${why}.`, {
        vmId: vm.id,
        diskId: disk.id,
      });
  }

  /** Injected checkpoint failures take effect when the engine next looks at checkpoints. */
  applyCheckpointFaults(): void {
    for (const f of this.engine.faults.takeCheckpointFaults()) {
      const vms = this.data.vms.filter((v) => !f.vmId || v.id === f.vmId || v.name === f.vmId);
      for (const vm of vms) {
        const mine = this.data.checkpoints.filter((c) => c.vmId === vm.id && !c.pending);
        const disks = this.engine.disksOf(vm).filter((d) => !f.diskId || d.id === f.diskId);
        const target = f.checkpointId ?? mine.find((c) => !mine.some((x) => x.parentId === c.id))?.id;
        if (f.effect === "invalid") {
          for (const c of mine) if (c.id === target) c.state = "invalid";
        } else if (f.effect === "bitmap_lost") {
          for (const d of disks)
            if (d.bitmaps) d.bitmaps = d.bitmaps.filter((b) => b.checkpointId !== target);
        } else {
          // A host crash leaves the bitmaps in use and inconsistent: qemu drops them, the engine marks every
          // checkpoint of the VM invalid.
          for (const d of this.engine.disksOf(vm)) delete d.bitmaps;
          for (const c of mine) c.state = "invalid";
          this.engine.event(
            "error",
            10814,
            `Host ${this.data.host.name} crashed while VM ${vm.name} was running.`,
            {
              vmId: vm.id,
            },
          );
        }
      }
      this.engine.save();
    }
  }

  // ---------- dirty tracking ----------

  /** The guest wrote [offset, offset+length): every bitmap of the disk marks it. */
  markGuestWrite(disk: DiskRec, offset: number, length: number): void {
    for (const b of disk.bitmaps ?? []) addRange(b.ranges, offset, offset + length, disk.provisionedSize);
  }

  /**
   * The backup's point in time on one disk (called under the disk's mutex): freeze the dirty ranges since
   * the backup's from-checkpoint, and start the bitmap of the new checkpoint.
   */
  private freeze(b: BackupRec, bd: BackupDiskRec, disk: DiskRec): void {
    if (bd.mode === "incremental") {
      const bitmap = disk.bitmaps?.find((x) => x.checkpointId === b.fromCheckpointId);
      if (bitmap) bd.dirty = bitmap.ranges.map(([s, e]) => [s, e]);
      else {
        // The bitmap vanished between start and the point in time: the disk falls back to full.
        bd.mode = "full";
        bd.fullReason = `the bitmap of checkpoint ${b.fromCheckpointId} is missing`;
      }
    }
    const to = b.toCheckpointId ? this.data.checkpoints.find((c) => c.id === b.toCheckpointId) : undefined;
    if (to?.diskIds.includes(disk.id)) {
      disk.bitmaps ??= [];
      if (!disk.bitmaps.some((x) => x.checkpointId === to.id))
        disk.bitmaps.push({ checkpointId: to.id, ranges: [] });
    }
  }

  /** Called by the snapshot code under the disk's mutex, right after the new overlay went on. */
  atSnapshotPoint(snapshotId: string, disk: DiskRec, frozenVolumeId: string): void {
    const b = this.data.backups.find((x) => x.snapshotId === snapshotId && x.phase === "initializing");
    const bd = b?.disks.find((d) => d.diskId === disk.id);
    if (!b || !bd) return;
    bd.volumeId = frozenVolumeId;
    this.freeze(b, bd, disk);
  }

  /** The snapshot's disks are unlocked by the snapshot code: the backup takes them over at once. */
  afterSnapshotCreated(snapshotId: string): void {
    const b = this.data.backups.find((x) => x.snapshotId === snapshotId && x.phase === "initializing");
    if (!b) return;
    for (const bd of b.disks) this.engine.lockDisk(this.engine.disk(bd.diskId), "backup", undefined, b.id);
  }

  // ---------- start ----------

  /** `POST /vms/{vm}/backups`. */
  start(
    vmId: string,
    body: Record<string, unknown>,
    query: Record<string, string>,
    correlationId?: string,
  ): BackupRec {
    const e = this.engine;
    const vm = e.vm(vmId);
    this.applyCheckpointFaults();
    const level = e.clusterOf(vm).level;
    const refs = listOf(body.disks, "disk");
    const attached = e.disksOf(vm).filter((d) => !d.shareable);
    const disks: DiskRec[] = [];
    for (const r of refs.length > 0 ? refs : attached.map((d) => ({ id: d.id }))) {
      const id = inStr(obj(r).id);
      if (!id) throw badRequest("Backup [disks.disk.id] required for add");
      const disk = attached.find((d) => d.id === id);
      if (!disk) throw conflict(`Cannot backup VM. The following disk(s) are not attached to the VM: ${id}.`);
      if (!disks.includes(disk)) disks.push(disk);
    }
    if (disks.length === 0) throw conflict("Cannot backup VM. The VM has no disks to back up.");
    this.assertNoBackup(vm, "backup", "VM");
    if (disks.some((d) => d.status !== "ok"))
      throw conflict("Cannot backup VM: Disk is locked. Please try again later.");
    const from = inStr(body.from_checkpoint_id) || undefined;
    let fromCheckpoint: CheckpointRec | undefined;
    if (from) {
      if (!incrementalSupported(level))
        throw conflict(
          `Cannot backup VM. Incremental backup is not supported in cluster compatibility version ${level}.`,
        );
      if (e.faults.takeCheckpointRemoval(vm, from)) {
        // Gone behind the client's back: the engine no longer resolves the entity at all.
        const gone = this.data.checkpoints.find((c) => c.id === from && c.vmId === vm.id);
        if (gone) this.dropCheckpoint(gone);
        e.save();
        throw notFound(from);
      }
      fromCheckpoint = this.checkpoints(vm.id).find((c) => c.id === from);
      if (!fromCheckpoint) throw conflict(`Cannot backup VM. Checkpoint ${from} does not exist.`);
      if (fromCheckpoint.state === "invalid")
        throw conflict(`Cannot backup VM. Checkpoint ${from} is invalid, a full backup is required.`);
    }
    const description = inStr(body.description) ?? "";
    if (description.length > 1024)
      throw conflict("Cannot backup VM. The backup description is too long (1024 characters at most).");
    const id = inStr(body.id) ?? newId();
    if (!isGuid(id)) throw badRequest(`Invalid backup id '${id}'`);
    if (this.data.backups.some((b) => b.id === id))
      throw conflict(`Cannot backup VM. A backup with ID ${id} already exists.`);
    const legacy = inBool(query.legacy, false);
    const mode: BackupRec["mode"] = hybridDefault(level) && !legacy ? "hybrid" : "live";

    const enabled = (d: DiskRec) => d.backup === "incremental" && e.activeVolume(d).format === "cow";
    const backupDisks: BackupDiskRec[] = disks.map((d) => {
      if (!fromCheckpoint) return { diskId: d.id, mode: "full" };
      if (!enabled(d))
        return { diskId: d.id, mode: "full", fullReason: "incremental backup is not enabled on the disk" };
      if (!fromCheckpoint.diskIds.includes(d.id))
        return { diskId: d.id, mode: "full", fullReason: `the disk is not part of checkpoint ${from}` };
      if (!d.bitmaps?.some((b) => b.checkpointId === from))
        return { diskId: d.id, mode: "full", fullReason: `the bitmap of checkpoint ${from} is missing` };
      return { diskId: d.id, mode: "incremental" };
    });

    const now = e.now();
    // The engine creates a checkpoint when the level supports incremental backup and a disk can have one.
    let toCheckpointId: string | undefined;
    const checkpointDisks = disks.filter(enabled);
    if (incrementalSupported(level) && checkpointDisks.length > 0) {
      const mine = this.checkpoints(vm.id);
      const leaf = mine.find((c) => !mine.some((x) => x.parentId === c.id));
      toCheckpointId = newId();
      this.data.checkpoints.push({
        id: toCheckpointId,
        vmId: vm.id,
        parentId: leaf?.id ?? null,
        creationDate: now,
        state: "created",
        description: "",
        diskIds: checkpointDisks.map((d) => d.id),
        pending: true,
      });
    }
    const job = e.startJob(`Backing up VM ${vm.name}`, correlationId);
    const b: BackupRec = {
      id,
      vmId: vm.id,
      phase: "initializing",
      description,
      creationDate: now,
      modificationDate: now,
      hostId: e.data.host.id,
      ...(from ? { fromCheckpointId: from } : {}),
      ...(toCheckpointId ? { toCheckpointId } : {}),
      mode,
      requireConsistency: inBool(query.require_consistency, false),
      disks: backupDisks,
      correlationId,
      jobId: job.id,
    };
    this.data.backups.push(b);
    if (mode === "hybrid") {
      // The snapshot locks the disks until it is ok; then the backup holds them (afterSnapshotCreated).
      const snap = e.createSnapshot(
        vm.id,
        {
          description: HYBRID_BACKUP_SNAPSHOT_DESCRIPTION,
          persist_memorystate: "false",
          disk_attachments: { disk_attachment: disks.map((d) => ({ disk: { id: d.id } })) },
        },
        correlationId,
        { forBackup: b.id },
      );
      b.snapshotId = snap.id;
    } else {
      for (const d of disks) e.lockDisk(d, "backup", undefined, b.id);
    }
    e.event("normal", 10790, `Backup ${b.id} for VM ${vm.name} was initiated by admin@internal-authz.`, {
      vmId: vm.id,
      correlationId,
    });
    e.save();
    this.schedule(b);
    return b;
  }

  private schedule(b: BackupRec): void {
    this.engine.later(this.engine.opts.asyncDelayMs, `Backup ${b.id}`, () => this.step(b.id));
  }

  /** One step of the backup's phase machine; re-schedules itself while there is more to do. */
  private async step(id: string): Promise<void> {
    const b = this.byId(id);
    if (!b) return;
    if (this.engine.faults.isBackupHeld(b.id, b.phase)) return this.schedule(b);
    try {
      switch (b.phase) {
        case "initializing":
          if (b.mode === "hybrid") {
            const snap = this.engine.data.snapshots.find((s) => s.id === b.snapshotId);
            if (!snap) return this.fail(b, "the backup snapshot could not be created");
            if (snap.status !== "ok") return this.schedule(b);
          }
          this.touch(b, "starting");
          break;
        case "starting":
          if (b.mode === "live") await this.freezeLive(b);
          this.touch(b, b.finalizeRequested ? "finalizing" : "ready");
          if (!b.finalizeRequested)
            this.engine.event("normal", 10791, `Backup ${b.id} for VM ${this.vmName(b)} is ready.`, {
              vmId: b.vmId,
              correlationId: b.correlationId,
            });
          break;
        case "finalizing":
          if (!(await this.finishFinalize(b))) {
            this.engine.save();
            return this.schedule(b);
          }
          this.engine.save();
          return;
        default:
          return;
      }
    } catch (err) {
      return this.fail(b, (err as Error).message);
    }
    this.engine.save();
    if (!this.isReady(b)) this.schedule(b);
  }

  /** Reads the phase afresh (steps change it; TypeScript's narrowing does not see that). */
  private isReady(b: BackupRec): boolean {
    return b.phase === "ready";
  }

  private vmName(b: BackupRec): string {
    return this.data.vms.find((v) => v.id === b.vmId)?.name ?? b.vmId;
  }

  /** Live mode: the guest view of each disk at this moment, copied into a scratch volume. */
  private async freezeLive(b: BackupRec): Promise<void> {
    const e = this.engine;
    for (const bd of b.disks) {
      const disk = e.disk(bd.diskId);
      await e.diskMutex.run(disk.id, async () => {
        const file = this.scratchPath(b, disk);
        mkdirSync(path.dirname(file), { recursive: true });
        rmSync(file, { force: true });
        await Qcow2Volume.create(file, { size: disk.provisionedSize });
        const view = await openGuestView(e.layers(disk));
        const scratch = await openVolumeChain([{ id: `scratch-${disk.id}`, path: file, format: "cow" }], {
          writable: true,
        });
        try {
          for (const x of await view.extents()) {
            if (x.zero) continue;
            for (let pos = x.start; pos < x.start + x.length; pos += COPY_PIECE) {
              const n = Math.min(COPY_PIECE, x.start + x.length - pos);
              await scratch.write(pos, await view.read(pos, n));
            }
          }
          await scratch.flush();
        } finally {
          await scratch.close();
          await view.close();
        }
        bd.scratchPath = file;
        bd.volumeId = e.activeVolume(disk).id;
        this.freeze(b, bd, disk);
        e.save();
      });
    }
  }

  private scratchPath(b: BackupRec, disk: DiskRec): string {
    return path.join(
      this.engine.store.dataDir,
      "images",
      disk.storageDomainId,
      "scratch",
      `${b.id}.${disk.id}`,
    );
  }

  /** What the backup's image transfer of a disk serves: the frozen chain and, for incremental, the dirty map. */
  exportOf(b: BackupRec, diskId: string): { layers: VolumeLayer[]; dirty?: BackupDiskRec["dirty"] } {
    const bd = b.disks.find((d) => d.diskId === diskId);
    if (!bd) throw notFound(diskId);
    const disk = this.engine.disk(diskId);
    const layers: VolumeLayer[] = bd.scratchPath
      ? [{ id: `scratch-${disk.id}`, path: bd.scratchPath, format: "cow" }]
      : this.engine.layers(disk, bd.volumeId);
    return bd.mode === "incremental" ? { layers, dirty: bd.dirty ?? [] } : { layers };
  }

  // ---------- finalize ----------

  /** `POST .../backups/{id}/finalize`. */
  finalize(vmId: string, id: string): void {
    const b = this.get(vmId, id);
    if (b.phase === "finalizing" || b.phase === "succeeded") return;
    if (b.phase === "failed") throw conflict(`Cannot stop VM Backup. Backup ${b.id} has failed.`);
    const open = this.data.transfers.filter((t) => t.backupId === b.id && !t.phase.startsWith("finished"));
    if (open.length > 0)
      throw conflict(
        `Cannot stop VM Backup. The backup has image transfers in progress: ${open.map((t) => t.id).join(", ")}.`,
      );
    if (b.phase === "ready") {
      this.touch(b, "finalizing");
      this.schedule(b);
    } else b.finalizeRequested = true;
    this.engine.save();
  }

  /** Releases what the backup holds; true when done (the hybrid snapshot's merge may take several steps). */
  private async finishFinalize(b: BackupRec): Promise<boolean> {
    const e = this.engine;
    if (b.mode === "hybrid" && b.snapshotId) {
      const snap = e.data.snapshots.find((s) => s.id === b.snapshotId && s.vmId === b.vmId);
      if (snap?.status === "locked") return false; // merging
      if (snap) {
        this.releaseDisks(b);
        const injected = e.faults.takeFailure("backups.snapshot.remove");
        if (injected) {
          // The engine still marks the backup succeeded and only logs the leftover (ref §8.2).
          e.event(
            "warning",
            10795,
            `Failed to remove snapshot '${snap.description}' of VM ${this.vmName(b)} after backup ${b.id}; it may be left over.`,
            { vmId: b.vmId, correlationId: b.correlationId },
          );
        } else {
          e.removeSnapshot(b.vmId, snap.id, b.correlationId, { forBackup: b.id });
          return false;
        }
      }
    }
    this.releaseDisks(b);
    for (const bd of b.disks) if (bd.scratchPath) rmSync(bd.scratchPath, { force: true });
    this.succeed(b);
    return true;
  }

  private releaseDisks(b: BackupRec): void {
    for (const bd of b.disks) {
      const d = this.data.disks.find((x) => x.id === bd.diskId);
      if (d?.lock?.kind === "backup" && d.lock.backupId === b.id) this.engine.unlockDisk(d);
    }
  }

  private succeed(b: BackupRec): void {
    const e = this.engine;
    const cp = this.data.checkpoints.find((c) => c.id === b.toCheckpointId);
    if (cp) delete cp.pending;
    this.touch(b, "succeeded");
    e.endJob(b.jobId, "finished");
    e.event("normal", 10792, `Backup ${b.id} for VM ${this.vmName(b)} finalized successfully.`, {
      vmId: b.vmId,
      correlationId: b.correlationId,
    });
    this.retire(b);
  }

  private fail(b: BackupRec, why: string): void {
    const e = this.engine;
    b.failureReason = why;
    this.releaseDisks(b);
    for (const bd of b.disks) if (bd.scratchPath) rmSync(bd.scratchPath, { force: true });
    const cp = this.data.checkpoints.find((c) => c.id === b.toCheckpointId);
    if (cp?.pending) this.dropCheckpoint(cp);
    this.touch(b, "failed");
    e.endJob(b.jobId, "failed");
    e.event("error", 10793, `Backup ${b.id} for VM ${this.vmName(b)} failed: ${why}.`, {
      vmId: b.vmId,
      correlationId: b.correlationId,
    });
    this.retire(b);
    e.save();
  }

  /** Pre-4.4.7 engines delete the entity once the backup ends; later ones keep it (the last few per VM). */
  private retire(b: BackupRec): void {
    if (this.engine.opts.legacyBackupRemoval) {
      this.data.backups = this.data.backups.filter((x) => x !== b);
      return;
    }
    const done = this.data.backups.filter((x) => x.vmId === b.vmId && !ACTIVE_PHASES.has(x.phase));
    if (done.length > 20) {
      const drop = new Set(done.slice(0, done.length - 20));
      this.data.backups = this.data.backups.filter((x) => !drop.has(x));
    }
  }

  /** The VM is gone: its backups and checkpoints go with it. */
  forgetVm(vmId: string): void {
    this.data.backups = this.data.backups.filter((b) => b.vmId !== vmId);
    this.data.checkpoints = this.data.checkpoints.filter((c) => c.vmId !== vmId);
  }

  /** After a restart: backups in motion continue their phase machine. */
  resumeAfterRestart(): void {
    for (const b of this.data.backups)
      if (ACTIVE_PHASES.has(b.phase) && b.phase !== "ready") this.schedule(b);
  }
}
