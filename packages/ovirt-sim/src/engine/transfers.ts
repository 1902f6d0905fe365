import { detectImageFormat, openFileSource, readQcow2Header } from "@lifeboat/disk-image";
import {
  ACTIVE_TRANSFER_PHASES,
  FINISHED_TRANSFER_PHASES,
  type ImageioTicketSpec,
  type ImageTransferPhase,
} from "@lifeboat/ovirt-protocol";
import type { TicketBackend } from "../imageio/tickets";
import type { DiskRec, TransferRec, VolumeRec } from "../model";
import { newId } from "../util/ids";
import type { Engine } from "./engine";
import { badRequest, conflict, inBool, inInt, inStr, notFound, obj } from "./faults";

const MiB = 2 ** 20;

/**
 * The image transfer phase machine (ovirt-protocol.md §4.6). One step per transfer and poll period, so a
 * polling client sees the intermediate phases; daemon tickets are created, renewed and removed here.
 */
export class TransferManager {
  private timer: NodeJS.Timeout | undefined;
  private readonly busy = new Set<string>();
  /** Download transfers seen complete and idle, for the auto-finalize heuristic. */
  private readonly idlePolls = new Map<string, number>();

  constructor(private readonly engine: Engine) {
    this.timer = setInterval(() => {
      try {
        this.tick();
      } catch (e) {
        // A failing save (disk full) must not take the process down; the next poll tries again.
        process.stderr.write(`[ovirt-sim] transfer monitor: ${(e as Error).message}\n`);
      }
    }, engine.opts.transferPollMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private get data() {
    return this.engine.data;
  }

  get(id: string): TransferRec {
    const t = this.data.transfers.find((x) => x.id === id);
    if (!t) throw notFound(id);
    return t;
  }

  isFinal(t: TransferRec): boolean {
    return FINISHED_TRANSFER_PHASES.has(t.phase);
  }

  transferUrl(t: TransferRec): string {
    const base = this.engine.faults.transferUrlUnreachable
      ? this.engine.opts.unreachableUrl()
      : this.engine.opts.imageioUrl();
    return `${base}/images/${t.ticketId}`;
  }

  proxyUrl(t: TransferRec): string {
    return `${this.engine.opts.proxyUrl()}/images/${t.ticketId}`;
  }

  /** `POST /imagetransfers`. */
  create(body: Record<string, unknown>, correlationId?: string): TransferRec {
    const e = this.engine;
    const direction = inStr(body.direction) ?? "upload";
    if (direction !== "upload" && direction !== "download")
      throw badRequest(`Invalid value '${direction}' for direction`);
    const diskRef = inStr(obj(body.disk).id);
    const snapRef = inStr(obj(body.snapshot).id);
    const imageRef = inStr(obj(body.image).id);
    if (!diskRef && !snapRef && !imageRef)
      throw badRequest("ImageTransfer [disk.id|snapshot.id|image.id] required for add");
    const backupRef = inStr(obj(body.backup).id);
    if (backupRef) return this.createForBackup(body, backupRef, diskRef, direction, correlationId);
    let disk: DiskRec;
    let vol: VolumeRec;
    if (snapRef) {
      const found = e.findVolume(snapRef);
      if (!found) throw notFound(snapRef);
      disk = found.disk;
      vol = found.vol;
    } else {
      disk = e.disk((diskRef ?? imageRef) as string);
      vol = e.activeVolume(disk);
    }
    const format = inStr(body.format);
    if (format !== undefined && format !== "raw" && format !== "cow")
      throw badRequest(`Invalid value '${format}' for format`);
    const timeoutPolicy = inStr(body.timeout_policy) ?? "legacy";
    if (!["legacy", "pause", "cancel"].includes(timeoutPolicy))
      throw badRequest(`Invalid value '${timeoutPolicy}' for timeout_policy`);
    const hostId = inStr(obj(body.host).id);
    if (hostId && hostId !== e.data.host.id) throw notFound(hostId);
    const hostName = inStr(obj(body.host).name);
    if (hostName && hostName !== e.data.host.name) throw notFound(hostName);
    e.assertDisksFree([disk], "transfer", "Virtual Disk");
    const vm = e.vmOfDisk(disk.id);
    if (vm) e.assertVmNotLocked(vm, "transfer", "Virtual Disk");
    const backend = format === "raw" ? "nbd" : "file";
    const shallow = inBool(body.shallow, false);
    const t: TransferRec = {
      id: newId(),
      ticketId: newId(),
      direction,
      format: (format as "raw" | "cow" | undefined) ?? null,
      backend,
      shallow: backend === "nbd" && direction === "download" && shallow,
      diskId: disk.id,
      volumeId: vol.id,
      targetSnapshot: Boolean(snapRef),
      hostId: e.data.host.id,
      phase: "initializing",
      inactivityTimeout: inInt(body.inactivity_timeout, "inactivity_timeout") ?? 60,
      timeoutPolicy: timeoutPolicy as TransferRec["timeoutPolicy"],
      ticketSize: this.ticketSize(disk, vol, direction, backend),
      creationTime: e.now(),
      phaseTime: e.now(),
      transferred: 0,
      correlationId,
    };
    e.data.transfers.push(t);
    e.lockDisk(disk, direction, t.id);
    e.event(
      "normal",
      1031,
      `Image ${direction === "upload" ? "Upload" : "Download"} with disk ${disk.alias} was initiated by admin@internal-authz.`,
      {
        diskId: disk.id,
        correlationId,
      },
    );
    e.save();
    return t;
  }

  /**
   * A download of a backup's disk: always the NBD backend (whatever `format` says) over the backup's
   * point-in-time view, with dirty extents for incremental-mode disks. The backup holds the disk lock.
   */
  private createForBackup(
    body: Record<string, unknown>,
    backupId: string,
    diskId: string | undefined,
    direction: string,
    correlationId?: string,
  ): TransferRec {
    const e = this.engine;
    if (!diskId) throw badRequest("ImageTransfer [disk.id] required for a backup transfer");
    const backup = e.backups.byId(backupId);
    if (!backup) throw notFound(backupId);
    const disk = e.disk(diskId);
    const bd = backup.disks.find((d) => d.diskId === disk.id);
    if (!bd)
      throw conflict(`Cannot transfer Virtual Disk. Disk ${disk.alias} is not part of backup ${backup.id}.`);
    if (direction !== "download")
      throw conflict("Cannot transfer Virtual Disk. A backup's disks can only be downloaded.");
    if (backup.phase !== "ready")
      throw conflict(
        `Cannot transfer Virtual Disk. The VM backup ${backup.id} is not ready (phase ${backup.phase}).`,
      );
    const timeoutPolicy = inStr(body.timeout_policy) ?? "legacy";
    if (!["legacy", "pause", "cancel"].includes(timeoutPolicy))
      throw badRequest(`Invalid value '${timeoutPolicy}' for timeout_policy`);
    const t: TransferRec = {
      id: newId(),
      ticketId: newId(),
      direction: "download",
      format: "raw",
      backend: "nbd",
      shallow: false,
      diskId: disk.id,
      volumeId: bd.volumeId ?? e.activeVolume(disk).id,
      targetSnapshot: false,
      backupId: backup.id,
      hostId: e.data.host.id,
      phase: "initializing",
      inactivityTimeout: inInt(body.inactivity_timeout, "inactivity_timeout") ?? 60,
      timeoutPolicy: timeoutPolicy as TransferRec["timeoutPolicy"],
      ticketSize: disk.provisionedSize,
      creationTime: e.now(),
      phaseTime: e.now(),
      transferred: 0,
      correlationId,
    };
    e.data.transfers.push(t);
    e.event("normal", 1031, `Image Download with disk ${disk.alias} of backup ${backup.id} was initiated.`, {
      diskId: disk.id,
      correlationId,
    });
    e.save();
    return t;
  }

  /** Ticket size rules (ovirt-protocol.md §4.5). */
  private ticketSize(disk: DiskRec, vol: VolumeRec, direction: string, backend: "file" | "nbd"): number {
    const virtual = disk.provisionedSize;
    if (backend === "nbd" || vol.format === "raw") return virtual;
    if (direction === "download") return this.engine.apparentSize(disk, vol);
    if (vol.lvSize !== undefined) return vol.lvSize;
    return Math.ceil((virtual * 1.1) / MiB) * MiB + MiB;
  }

  private setPhase(t: TransferRec, phase: ImageTransferPhase): void {
    t.phase = phase;
    t.phaseTime = this.engine.now();
    if (phase !== "finished_success" && phase !== "finished_failure") return;
    // The command ends: downloads and good uploads free the disk; a failed upload leaves it illegal (and
    // the next poll removes it).
    const disk = this.engine.data.disks.find((d) => d.id === t.diskId);
    if (disk && disk.lock?.transferId === t.id) {
      if (phase === "finished_success" || t.direction === "download") this.engine.unlockDisk(disk);
      else disk.status = "illegal";
    }
    // Engines before 4.4.7 delete the entity as the command ends: no client ever reads a finished phase.
    if (this.engine.opts.legacyTransferRemoval) this.afterFinish(t);
  }

  finalize(id: string): void {
    const t = this.get(id);
    if (t.phase === "initializing")
      throw conflict("Cannot finalize Image Transfer. The transfer is still initializing.");
    if (!ACTIVE_TRANSFER_PHASES.has(t.phase)) return; // already finalizing or finished: nothing to do
    this.setPhase(t, "finalizing_success");
    this.engine.save();
    this.tick();
  }

  cancel(id: string): void {
    const t = this.get(id);
    if (!ACTIVE_TRANSFER_PHASES.has(t.phase)) return;
    this.setPhase(t, "cancelled_user");
    this.engine.save();
  }

  pause(id: string): void {
    const t = this.get(id);
    if (t.phase !== "transferring")
      throw conflict(`Cannot pause Image Transfer. The transfer is in phase ${t.phase}.`);
    this.setPhase(t, "paused_user");
    this.engine.save();
  }

  resume(id: string): void {
    const t = this.get(id);
    if (t.phase !== "paused_user" && t.phase !== "paused_system")
      throw conflict(`Cannot resume Image Transfer. The transfer is in phase ${t.phase}.`);
    this.setPhase(t, "resuming");
    this.engine.save();
  }

  extend(id: string): void {
    const t = this.get(id);
    this.engine.tickets.get(t.ticketId)?.extend(this.engine.opts.ticketTimeoutS);
  }

  private addTicket(t: TransferRec): void {
    const e = this.engine;
    if (e.faults.takeFailure("imagetransfers.ticket"))
      throw new Error("the host could not add the image ticket");
    const found = e.findVolume(t.volumeId);
    if (!found) throw new Error(`volume ${t.volumeId} is gone`);
    if (t.backupId) {
      this.addBackupTicket(t, found.disk);
      return;
    }
    const path = e.volumePath(found.disk, found.vol);
    const backend: TicketBackend =
      t.backend === "file"
        ? {
            kind: "file",
            path,
            lockKey: found.disk.id,
            ...(found.vol.lvSize !== undefined ? { minSize: found.vol.lvSize } : {}),
          }
        : {
            kind: "nbd",
            layers: e.layers(found.disk, found.vol.id),
            shallow: t.shallow,
            lockKey: found.disk.id,
          };
    const spec: ImageioTicketSpec = {
      uuid: t.ticketId,
      size: t.ticketSize,
      ops: [t.direction === "upload" ? "write" : "read"],
      timeout: e.opts.ticketTimeoutS,
      url: t.backend === "file" ? `file://${path}` : `nbd:unix:/run/vdsm/nbd/${t.id}.sock`,
      inactivity_timeout: t.inactivityTimeout,
      transfer_id: t.id,
      sparse: found.vol.sparse,
      dirty: false,
    };
    e.tickets.add(spec, backend);
  }

  private addBackupTicket(t: TransferRec, disk: DiskRec): void {
    const e = this.engine;
    const backup = e.backups.byId(t.backupId as string);
    if (!backup) throw new Error(`backup ${t.backupId} is gone`);
    const { layers, dirty } = e.backups.exportOf(backup, disk.id);
    const spec: ImageioTicketSpec = {
      uuid: t.ticketId,
      size: t.ticketSize,
      ops: ["read"],
      timeout: e.opts.ticketTimeoutS,
      url: `nbd:unix:/run/vdsm/backup/${backup.id}:exportname=${disk.id}`,
      inactivity_timeout: t.inactivityTimeout,
      transfer_id: t.id,
      sparse: false,
      dirty: dirty !== undefined,
    };
    e.tickets.add(spec, {
      kind: "nbd",
      layers,
      shallow: false,
      lockKey: disk.id,
      ...(dirty ? { dirty } : {}),
    });
  }

  /** One step of every transfer. */
  tick(): void {
    const e = this.engine;
    let changed = false;
    for (const t of [...this.data.transfers]) {
      if (this.busy.has(t.id)) continue;
      if (e.faults.isHeld(t.id, t.phase)) continue;
      const before = t.phase;
      try {
        this.step(t);
      } catch (err) {
        e.event("error", 1032, `Transfer ${t.id} failed: ${(err as Error).message}`, {
          diskId: t.diskId,
          correlationId: t.correlationId,
        });
        t.failureReason = (err as Error).message;
        this.setPhase(t, t.direction === "upload" ? "paused_system" : "cancelled_system");
      }
      if (t.phase !== before) changed = true;
    }
    if (changed) e.save();
  }

  private step(t: TransferRec): void {
    const e = this.engine;
    const ticket = e.tickets.get(t.ticketId);
    switch (t.phase) {
      case "initializing":
      case "resuming": {
        if (
          !e.findVolume(t.volumeId) ||
          (t.phase === "initializing" && e.faults.takeFailure("imagetransfers.init"))
        ) {
          this.setPhase(t, "finished_failure");
          return;
        }
        this.addTicket(t);
        this.setPhase(t, "transferring");
        return;
      }
      case "transferring": {
        if (!ticket) {
          this.setPhase(t, t.direction === "upload" ? "paused_system" : "cancelled_system");
          return;
        }
        t.transferred = ticket.transferred;
        // The engine keeps the host ticket alive while transferring.
        if (ticket.expires - e.now() < 60_000) ticket.extend(e.opts.ticketTimeoutS);
        const idleMs = ticket.inflight > 0 ? 0 : e.now() - ticket.lastActivity;
        if (t.inactivityTimeout > 0 && idleMs >= t.inactivityTimeout * 1000) {
          const pause =
            t.timeoutPolicy === "pause" || (t.timeoutPolicy === "legacy" && t.direction === "upload");
          t.failureReason = `inactivity for ${Math.floor(idleMs / 1000)} s`;
          e.event("warning", 1033, `Transfer was stopped by system. Reason: ${t.failureReason}.`, {
            diskId: t.diskId,
            correlationId: t.correlationId,
          });
          void e.tickets.remove(t.ticketId, 0);
          this.setPhase(t, pause ? "paused_system" : "cancelled_system");
          return;
        }
        if (
          e.opts.autoFinalizeDownloads &&
          t.direction === "download" &&
          ticket.transferred >= t.ticketSize &&
          idleMs > 0
        ) {
          const n = (this.idlePolls.get(t.id) ?? 0) + 1;
          this.idlePolls.set(t.id, n);
          if (n >= 2) {
            this.idlePolls.delete(t.id);
            this.setPhase(t, "finalizing_success");
          }
        }
        return;
      }
      case "paused_system":
        if (ticket) void e.tickets.remove(t.ticketId, 0);
        return;
      case "paused_user":
        return;
      case "finalizing_success":
        this.busy.add(t.id);
        void e
          .track(`Finalizing transfer ${t.id}`, () => this.finishSession(t))
          .finally(() => this.busy.delete(t.id));
        return;
      case "cancelled_user":
      case "cancelled_system":
      case "cancelled":
        this.busy.add(t.id);
        void e
          .track(`Cancelling transfer ${t.id}`, async () => {
            if (await e.tickets.remove(t.ticketId)) {
              this.setPhase(t, t.phase === "cancelled_user" ? "finalizing_cleanup" : "finalizing_failure");
              e.save();
            }
          })
          .finally(() => this.busy.delete(t.id));
        return;
      case "finalizing_cleanup":
        this.setPhase(t, "finished_cleanup");
        return;
      case "finished_cleanup":
      case "finalizing_failure":
        this.setPhase(t, "finished_failure");
        return;
      case "finished_failure":
      case "finished_success":
        this.afterFinish(t);
        return;
      default:
        return;
    }
  }

  /** finalize: stop the session (ticket removed once requests drained), verify uploads, unlock the disk. */
  private async finishSession(t: TransferRec): Promise<void> {
    const e = this.engine;
    if (!(await e.tickets.remove(t.ticketId))) return; // requests still in flight: the next poll retries
    const found = e.findVolume(t.volumeId);
    if (found && e.faults.takeFailure("imagetransfers.finalize.async")) {
      // The engine could not finalize (e.g. tearing the image down on the host failed): the transfer pauses
      // and the disk is left illegal, not removed; someone must clean it up (ref §4.6).
      t.failureReason = "finalizing the image on the host failed";
      delete found.disk.lock;
      found.disk.status = "illegal";
      this.setPhase(t, "paused_system");
      e.save();
      return;
    }
    if (!found) {
      this.setPhase(t, "finished_failure");
      e.save();
      return;
    }
    if (t.direction === "upload") {
      const problem = await e.diskMutex.run(found.disk.id, () => this.verifyUpload(found.disk, found.vol));
      if (problem) {
        t.failureReason = problem;
        e.event("error", 1035, `Image verification failed for disk ${found.disk.alias}: ${problem}`, {
          diskId: t.diskId,
          correlationId: t.correlationId,
        });
        this.setPhase(t, "finalizing_failure");
        e.save();
        return;
      }
    }
    this.setPhase(t, "finished_success");
    e.event(
      "normal",
      1034,
      `Image ${t.direction === "upload" ? "Upload" : "Download"} with disk ${found.disk.alias} succeeded.`,
      {
        diskId: t.diskId,
        correlationId: t.correlationId,
      },
    );
    e.save();
  }

  /**
   * What vdsm's verify_untrusted_volume checks: the file's format matches the volume's, the virtual size
   * fits the capacity, and a qcow2 names exactly the parent volume UUID as backing file (a base: none).
   */
  private async verifyUpload(disk: DiskRec, vol: VolumeRec): Promise<string | null> {
    const e = this.engine;
    if (e.faults.takeFailure("imagetransfers.verify")) return "verification failure (injected)";
    const src = await openFileSource(e.volumePath(disk, vol));
    try {
      const format = await detectImageFormat(src);
      if (vol.format === "raw") {
        if (format === "qcow2") return "volume format is raw but the uploaded image is qcow2";
        if (src.size > disk.provisionedSize)
          return `image size ${src.size} exceeds the volume capacity ${disk.provisionedSize}`;
        return null;
      }
      if (format !== "qcow2") return "volume format is cow but the uploaded image is not qcow2";
      let header: Awaited<ReturnType<typeof readQcow2Header>>;
      try {
        header = await readQcow2Header(src, vol.id);
      } catch (err) {
        return `invalid qcow2 image: ${(err as Error).message}`;
      }
      if (header.size > disk.provisionedSize)
        return `virtual size ${header.size} exceeds the volume capacity ${disk.provisionedSize}`;
      if (vol.parentId === null) {
        if (header.backingFile !== null)
          return `base volume must not have a backing file, found '${header.backingFile}'`;
      } else if (header.backingFile !== vol.parentId) {
        return `backing file '${header.backingFile ?? ""}' does not match the parent volume ${vol.parentId}`;
      }
      return null;
    } finally {
      await src.close();
    }
  }

  /** Unlock or remove the disk, then drop the entity (at once in legacy mode, after the TTL otherwise). */
  private afterFinish(t: TransferRec): void {
    const e = this.engine;
    const disk = e.data.disks.find((d) => d.id === t.diskId);
    if (disk && disk.lock?.transferId === t.id && disk.status === "illegal") {
      e.dropDisk(disk);
      e.event("normal", 2014, `Disk ${disk.alias} was removed after a failed upload.`, { diskId: disk.id });
      e.save();
      if (!e.opts.legacyTransferRemoval) return;
    }
    const age = e.now() - t.phaseTime;
    if (e.opts.legacyTransferRemoval || age >= e.opts.finishedTransferTtlMs) {
      e.data.transfers = e.data.transfers.filter((x) => x !== t);
      e.save();
    }
  }

  /** After a restart the daemon's tickets are gone: sessions that were moving data fail like a lost ticket. */
  resumeAfterRestart(): void {
    for (const t of this.data.transfers) {
      if (t.phase === "transferring")
        this.setPhase(t, t.direction === "upload" ? "paused_system" : "cancelled_system");
      if (t.phase === "finalizing_success" && t.direction === "download")
        this.setPhase(t, "finished_success");
    }
  }
}
