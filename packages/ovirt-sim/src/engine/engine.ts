import { mkdirSync, rmSync, statSync } from "node:fs";
import { truncate, unlink, writeFile } from "node:fs/promises";
import { Qcow2Volume } from "@lifeboat/disk-image";
import type { DiskStatus } from "@lifeboat/ovirt-protocol";
import type { FaultInjector } from "../faults";
import type { TicketRegistry } from "../imageio/tickets";
import type {
  AttachmentRec,
  ClusterRec,
  DiskLockKind,
  DiskRec,
  EventRec,
  JobRec,
  NicRec,
  SimStateData,
  SnapshotRec,
  StorageDomainRec,
  VmRec,
  VolumeRec,
} from "../model";
import { OvfError, readOvf } from "../ovf/read";
import { type OvfDisk, type OvfSnapshot, writeOvf } from "../ovf/write";
import { BLOCK, prng, randomBlocks } from "../patterns";
import type { Store } from "../store";
import type { SimClock } from "../util/clock";
import { isGuid, newId } from "../util/ids";
import { KeyedMutex } from "../util/mutex";
import { openVolumeChain, type VolumeLayer } from "../volumes/chain";
import { openGuestView } from "../volumes/guest-view";
import { BackupManager } from "./backups";
import {
  badRequest,
  conflict,
  EngineFault,
  inBool,
  incomplete,
  inInt,
  inStr,
  listOf,
  notFound,
  obj,
} from "./faults";
import { TransferManager } from "./transfers";

export interface EngineOptions {
  /** Delay of the asynchronous `locked → ok` steps (snapshots, disks), ms. */
  asyncDelayMs: number;
  /** Period of the transfer monitor (phase steps, inactivity, ticket renewal), ms. */
  transferPollMs: number;
  /** How long finished transfers stay visible (4.4.7+ behaviour), ms. */
  finishedTransferTtlMs: number;
  /** Pre-4.4.7 behaviour: a finished transfer disappears at once (404). */
  legacyTransferRemoval: boolean;
  /** Pre-4.4.7 behaviour: a backup disappears once it ends (404) instead of showing succeeded/failed. */
  legacyBackupRemoval?: boolean;
  /** The engine's heuristic: a download whose bytes were all read and that stays idle is finalized. */
  autoFinalizeDownloads: boolean;
  /** Lifetime of daemon tickets the engine creates (renewed while transferring), seconds. */
  ticketTimeoutS: number;
  /** The engine version it answers as (`4.5.5`); older ones lack later features (ref version table). */
  engineVersion?: string;
  /** Base URLs of the daemon and the proxy, e.g. https://127.0.0.1:54322 */
  imageioUrl(): string;
  proxyUrl(): string;
  /** A URL nobody listens on (for the unreachable-transfer_url fault). */
  unreachableUrl(): string;
}

const MiB = 2 ** 20;
const GiB = 2 ** 30;
/** Default LV size of a thin (cow) volume on block storage. */
const BLOCK_COW_DEFAULT = GiB;
const LV_EXTENT = 128 * MiB;

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** The simulated engine's version when none is asked for. */
export const DEFAULT_ENGINE_VERSION = "4.5.5";

/** `a` is at least version `b` (dotted numbers, e.g. `4.4.3`). */
export function versionAtLeast(a: string, b: string): boolean {
  const x = a.split(/[.-]/).map((n) => Number.parseInt(n, 10) || 0);
  const y = b.split(/[.-]/).map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

export interface GuestWriteResult {
  vm: string;
  disks: Array<{ diskId: string; volumeId: string; ranges: Array<{ offset: number; length: number }> }>;
  bytes: number;
}

/**
 * The simulated engine's state machine: VMs, disks as volume chains, snapshots (create with overlays, remove
 * with a merge), OVF import, locks with the engine's 409 messages, jobs and events. The HTTP layer maps
 * requests onto these methods; tests and the admin endpoint reach them through the Simulator.
 */
export class Engine {
  /** Serialises every change to one disk's volumes (snapshot, merge, guest writes, NBD writes). */
  readonly diskMutex = new KeyedMutex();
  readonly transfers: TransferManager;
  readonly backups: BackupManager;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(
    readonly store: Store,
    readonly clock: SimClock,
    readonly faults: FaultInjector,
    readonly tickets: TicketRegistry,
    readonly opts: EngineOptions,
  ) {
    this.transfers = new TransferManager(this);
    this.backups = new BackupManager(this);
  }

  get data(): SimStateData {
    return this.store.data;
  }

  save(): void {
    this.store.save();
  }

  now(): number {
    return this.clock.now();
  }

  get version(): string {
    return this.opts.engineVersion ?? DEFAULT_ENGINE_VERSION;
  }

  /** The simulated engine is at least this version. */
  atLeast(version: string): boolean {
    return versionAtLeast(this.version, version);
  }

  /** Runs `fn` after `ms`, tracked so that stop() can wait for it; failures become error events. */
  later(ms: number, what: string, fn: () => Promise<void> | void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.stopped) return;
      this.track(what, fn);
    }, ms);
    this.timers.add(t);
  }

  track(what: string, fn: () => Promise<void> | void): Promise<void> {
    const p = (async () => {
      try {
        await fn();
      } catch (e) {
        this.event("error", 10802, `${what} failed: ${(e as Error).message}`);
        try {
          this.save();
        } catch (err) {
          process.stderr.write(`[ovirt-sim] ${what}: ${(err as Error).message}\n`);
        }
      }
    })();
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    return p;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.transfers.stop();
    await Promise.allSettled([...this.running]);
  }

  // ---------- lookups ----------

  defaultCluster(): ClusterRec {
    const c = this.data.clusters[0];
    if (!c) throw new EngineFault(500, "Operation Failed", "the data center has no cluster");
    return c;
  }

  cluster(id: string): ClusterRec {
    const c = this.data.clusters.find((x) => x.id === id);
    if (!c) throw notFound(id);
    return c;
  }

  clusterOf(vm: VmRec): ClusterRec {
    return this.data.clusters.find((c) => c.id === vm.clusterId) ?? this.defaultCluster();
  }

  vm(id: string): VmRec {
    const vm = this.data.vms.find((v) => v.id === id);
    if (!vm) throw notFound(id);
    return vm;
  }

  findVmByName(name: string): VmRec | undefined {
    return this.data.vms.find((v) => v.name === name);
  }

  disk(id: string): DiskRec {
    const d = this.data.disks.find((x) => x.id === id);
    if (!d) throw notFound(id);
    return d;
  }

  storageDomain(id: string): StorageDomainRec {
    const sd = this.data.storageDomains.find((s) => s.id === id);
    if (!sd) throw notFound(id);
    return sd;
  }

  snapshot(vmId: string, sid: string): SnapshotRec {
    const s = this.data.snapshots.find((x) => x.vmId === vmId && x.id === sid);
    if (!s) throw notFound(sid);
    return s;
  }

  snapshotsOf(vmId: string): SnapshotRec[] {
    return this.data.snapshots.filter((s) => s.vmId === vmId);
  }

  activeSnapshot(vmId: string): SnapshotRec {
    const s = this.data.snapshots.find((x) => x.vmId === vmId && x.type === "active");
    if (!s) throw new EngineFault(500, "Operation Failed", `VM ${vmId} has no active snapshot`);
    return s;
  }

  vmOfDisk(diskId: string): VmRec | undefined {
    return this.data.vms.find((v) => v.attachments.some((a) => a.diskId === diskId));
  }

  disksOf(vm: VmRec): DiskRec[] {
    return vm.attachments.map((a) => this.disk(a.diskId));
  }

  /** The disk and position of a volume (disk snapshot) id. */
  findVolume(volumeId: string): { disk: DiskRec; vol: VolumeRec; index: number } | undefined {
    for (const disk of this.data.disks) {
      const index = disk.volumes.findIndex((v) => v.id === volumeId);
      if (index >= 0) return { disk, vol: disk.volumes[index] as VolumeRec, index };
    }
    return undefined;
  }

  activeVolume(disk: DiskRec): VolumeRec {
    const v = disk.volumes[disk.volumes.length - 1];
    if (!v) throw new EngineFault(500, "Operation Failed", `disk ${disk.id} has no volumes`);
    return v;
  }

  volumePath(disk: DiskRec, vol: VolumeRec): string {
    return this.store.volumePath(disk.storageDomainId, disk.id, vol.id);
  }

  /** The chain base → `uptoVolumeId` (default: the active volume). */
  layers(disk: DiskRec, uptoVolumeId?: string): VolumeLayer[] {
    const end = uptoVolumeId ? disk.volumes.findIndex((v) => v.id === uptoVolumeId) : disk.volumes.length - 1;
    if (end < 0) throw notFound(uptoVolumeId ?? disk.id);
    return disk.volumes
      .slice(0, end + 1)
      .map((v) => ({ id: v.id, path: this.volumePath(disk, v), format: v.format }));
  }

  isBlock(disk: DiskRec): boolean {
    return this.storageDomain(disk.storageDomainId).storageType === "iscsi";
  }

  /** Allocated bytes of a volume: the LV size on block storage, the file's allocation on file storage. */
  actualSize(disk: DiskRec, vol: VolumeRec): number {
    if (vol.lvSize !== undefined) return vol.lvSize;
    try {
      return statSync(this.volumePath(disk, vol)).blocks * 512;
    } catch {
      return 0;
    }
  }

  /** Apparent size of the volume file (what the file backend serves): the LV size on block storage. */
  apparentSize(disk: DiskRec, vol: VolumeRec): number {
    let size = 0;
    try {
      size = statSync(this.volumePath(disk, vol)).size;
    } catch {
      size = 0;
    }
    return vol.lvSize !== undefined ? Math.max(vol.lvSize, size) : size;
  }

  // ---------- events and jobs ----------

  event(
    severity: EventRec["severity"],
    code: number,
    description: string,
    extra: Partial<EventRec> = {},
  ): void {
    this.data.events.push({
      id: this.data.nextEventId++,
      time: this.now(),
      severity,
      code,
      description,
      ...extra,
    });
    if (this.data.events.length > 500) this.data.events.splice(0, this.data.events.length - 500);
  }

  startJob(description: string, correlationId?: string): JobRec {
    const t = this.now();
    const job: JobRec = {
      id: newId(),
      description,
      status: "started",
      startTime: t,
      lastUpdated: t,
      correlationId,
    };
    this.data.jobs.push(job);
    if (this.data.jobs.length > 300) this.data.jobs.splice(0, this.data.jobs.length - 300);
    return job;
  }

  endJob(id: string, status: JobRec["status"]): void {
    const job = this.data.jobs.find((j) => j.id === id);
    if (!job) return;
    job.status = status;
    job.endTime = this.now();
    job.lastUpdated = job.endTime;
  }

  // ---------- locks ----------

  /** 409 unless every disk is free, in the engine's words. */
  assertDisksFree(disks: DiskRec[], action: string, type: string): void {
    for (const d of disks)
      if (d.lock?.kind === "backup")
        throw conflict(`Cannot ${action} ${type}. The VM is during a backup operation.`);
    for (const d of disks)
      if (d.lock && (d.lock.kind === "upload" || d.lock.kind === "download"))
        throw conflict(`Cannot ${action} ${type}. Disk ${d.alias} is being transferred.`);
    const locked = disks.filter((d) => d.status === "locked");
    if (locked.length > 0)
      throw conflict(
        `Cannot ${action} ${type}: The following disks are locked: ${locked.map((d) => d.alias).join(", ")}. Please try again in a few minutes.`,
      );
    const illegal = disks.filter((d) => d.status === "illegal");
    if (illegal.length > 0)
      throw conflict(
        `Cannot ${action} ${type}. The following attached disks are in ILLEGAL status: ${illegal.map((d) => d.alias).join(", ")} - please remove them and try again.`,
      );
  }

  assertVmNotLocked(vm: VmRec, action: string, type: string): void {
    if (vm.status === "image_locked")
      throw conflict(`Cannot ${action} ${type}: VM is locked. Please try again in a few minutes.`);
  }

  lockDisk(d: DiskRec, kind: DiskLockKind, transferId?: string, backupId?: string): void {
    d.lock = { kind, ...(transferId ? { transferId } : {}), ...(backupId ? { backupId } : {}) };
    d.status = "locked";
  }

  unlockDisk(d: DiskRec, status: DiskStatus = "ok"): void {
    delete d.lock;
    d.status = status;
  }

  private lockVm(vm: VmRec): void {
    if (vm.status !== "image_locked") vm.statusBeforeLock = vm.status;
    vm.status = "image_locked";
  }

  private unlockVm(vm: VmRec): void {
    vm.status = vm.statusBeforeLock ?? "down";
    delete vm.statusBeforeLock;
  }

  // ---------- OVF ----------

  private ovfDisks(vm: VmRec, only?: Map<string, VolumeRec>): OvfDisk[] {
    const out: OvfDisk[] = [];
    vm.attachments.forEach((a, index) => {
      const disk = this.data.disks.find((d) => d.id === a.diskId);
      if (!disk || disk.shareable) return;
      const chosen = only ? only.get(disk.id) : undefined;
      if (only && !chosen) return;
      const vols = chosen ? [chosen] : disk.volumes;
      out.push({
        id: disk.id,
        alias: disk.alias,
        description: disk.description,
        storageDomainId: disk.storageDomainId,
        wipeAfterDelete: disk.wipeAfterDelete,
        incrementalBackup: disk.backup === "incremental",
        attachment: a,
        index,
        volumes: vols.map((v) => ({
          id: v.id,
          parentId: v.parentId,
          format: v.format,
          sparse: v.sparse,
          snapshotId: v.snapshotId,
          creationTime: v.creationTime,
          lastModified: this.now(),
          actualSize: this.actualSize(disk, v),
          virtualSize: disk.provisionedSize,
        })),
      });
    });
    return out;
  }

  private snapshotDescriptions(vmId: string): Map<string, string> {
    const m = new Map<string, string>();
    for (const s of this.snapshotsOf(vmId)) m.set(s.id, s.type === "active" ? "Active VM" : s.description);
    return m;
  }

  /** The VM's OVF as `all_content` returns it, or null while the VM or any of its disks is locked. */
  ovfOf(vm: VmRec): string | null {
    if (vm.status === "image_locked") return null;
    if (this.disksOf(vm).some((d) => d.status === "locked")) return null;
    const snaps = this.snapshotsOf(vm.id).sort((a, b) =>
      a.type === b.type ? a.date - b.date : a.type === "active" ? -1 : 1,
    );
    const snapshots: OvfSnapshot[] = snaps.map((s) => ({
      id: s.id,
      type: s.type === "active" ? "ACTIVE" : "REGULAR",
      description: s.type === "active" ? "Active VM" : s.description,
      date: s.date,
      configuration: s.type === "regular" ? (s.ovf ?? "") : undefined,
    }));
    return writeOvf({
      vm,
      clusterName: this.clusterOf(vm).name,
      dataCenterId: this.data.dataCenter.id,
      disks: this.ovfDisks(vm),
      snapshots,
      snapshotDescriptions: this.snapshotDescriptions(vm.id),
      exportDate: this.now(),
      includeStorageIds: true,
    });
  }

  /** The OVF stored with a new snapshot: one volume per included disk (the one the snapshot owns). */
  private snapshotOvf(vm: VmRec, disks: DiskRec[]): string {
    const only = new Map(disks.map((d) => [d.id, this.activeVolume(d)]));
    return writeOvf({
      vm,
      clusterName: this.clusterOf(vm).name,
      dataCenterId: this.data.dataCenter.id,
      disks: this.ovfDisks(vm, only),
      snapshotDescriptions: this.snapshotDescriptions(vm.id),
      exportDate: this.now(),
      includeStorageIds: false,
    });
  }

  // ---------- disks ----------

  resolveStorageDomain(body: Record<string, unknown>): StorageDomainRec {
    const refs = listOf(body.storage_domains, "storage_domain");
    const ref = refs[0];
    if (!ref || (!ref.id && !ref.name)) throw incomplete("Disk", ["storageDomains.id|name"]);
    const sd = this.data.storageDomains.find((s) => (ref.id ? s.id === ref.id : s.name === ref.name));
    if (!sd) throw notFound(String(ref.id ?? ref.name));
    return sd;
  }

  /** `POST /disks`: a floating disk, `locked` until its volume file exists. */
  addDisk(body: Record<string, unknown>, correlationId?: string): DiskRec {
    const provisioned = inInt(body.provisioned_size ?? body.size, "provisioned_size");
    const format = inStr(body.format);
    const missing: string[] = [];
    if (provisioned === undefined) missing.push("provisionedSize|size");
    if (!format) missing.push("format");
    if (missing.length) throw incomplete("Disk", missing);
    if (format !== "cow" && format !== "raw") throw badRequest(`Invalid value '${format}' for format`);
    if (provisioned === 0 || (provisioned as number) % 512 !== 0)
      throw badRequest("Cannot add Virtual Disk. Disk size must be a positive multiple of 512 bytes.");
    const sd = this.resolveStorageDomain(body);
    const sparse = inBool(body.sparse, format === "cow");
    const id = inStr(body.id) ?? newId();
    const imageId = inStr(body.image_id) ?? newId();
    if (!isGuid(id) || !isGuid(imageId)) throw badRequest("Invalid disk id or image id");
    if (this.data.disks.some((d) => d.id === id))
      throw conflict("Cannot add Virtual Disk. The disk ID is already in use.");
    if (this.findVolume(imageId)) throw conflict("Cannot add Virtual Disk. The image ID is already in use.");
    if (sd.storageType === "iscsi" && format === "raw" && sparse)
      throw conflict(
        "Cannot add Virtual Disk. Disk configuration (RAW Sparse) is incompatible with the storage domain type.",
      );
    const backup = inStr(body.backup) === "incremental" ? "incremental" : "none";
    if (backup === "incremental" && format !== "cow")
      throw conflict(
        "Cannot add Virtual Disk. Incremental backup is only supported for disks in QCOW2 format.",
      );
    const alias = inStr(body.alias) ?? inStr(body.name) ?? `disk-${id.slice(0, 8)}`;
    const initial = inInt(body.initial_size, "initial_size");
    const now = this.now();
    const vol: VolumeRec = { id: imageId, parentId: null, format, sparse, snapshotId: "", creationTime: now };
    if (sd.storageType === "iscsi")
      vol.lvSize =
        format === "raw" ? (provisioned as number) : roundUp(initial ?? BLOCK_COW_DEFAULT, LV_EXTENT);
    const disk: DiskRec = {
      id,
      alias,
      description: inStr(body.description) ?? "",
      storageDomainId: sd.id,
      provisionedSize: provisioned as number,
      status: "locked",
      contentType: "data",
      backup,
      shareable: inBool(body.shareable, false),
      wipeAfterDelete: inBool(body.wipe_after_delete, false),
      propagateErrors: false,
      creationTime: now,
      volumes: [vol],
      lock: { kind: "create" },
    };
    this.data.disks.push(disk);
    const job = this.startJob(`Adding Disk ${alias}`, correlationId);
    this.save();
    this.later(this.opts.asyncDelayMs, `Adding disk ${alias}`, () =>
      this.completeDiskCreate(disk.id, job.id),
    );
    return disk;
  }

  private async completeDiskCreate(diskId: string, jobId?: string): Promise<void> {
    const disk = this.data.disks.find((d) => d.id === diskId);
    if (disk?.lock?.kind !== "create") return;
    if (this.faults.takeFailure("disks.add.async")) {
      this.unlockDisk(disk, "illegal");
      if (jobId) this.endJob(jobId, "failed");
      this.event("error", 2022, `Add-Disk operation failed to complete (disk ${disk.alias}).`, { diskId });
      this.save();
      return;
    }
    await this.diskMutex.run(disk.id, async () => {
      const vol = this.activeVolume(disk);
      mkdirSync(this.store.diskDir(disk.storageDomainId, disk.id), { recursive: true });
      const p = this.volumePath(disk, vol);
      rmSync(p, { force: true });
      if (vol.format === "cow") await Qcow2Volume.create(p, { size: disk.provisionedSize });
      else {
        await writeFile(p, "");
        await truncate(p, disk.provisionedSize);
      }
    });
    this.unlockDisk(disk);
    if (jobId) this.endJob(jobId, "finished");
    this.event("normal", 2021, `The disk ${disk.alias} was successfully added.`, { diskId });
    this.save();
  }

  removeDisk(id: string, action = "remove", type = "Virtual Disk"): void {
    const disk = this.disk(id);
    this.assertDisksFree(
      [disk].filter((d) => d.status !== "illegal"),
      action,
      type,
    );
    const vm = this.vmOfDisk(id);
    if (vm) {
      this.assertVmNotLocked(vm, action, type);
      if (vm.status === "up" && vm.attachments.find((a) => a.diskId === id)?.active)
        throw conflict(`Cannot ${action} ${type}. Disk is plugged into a running VM.`);
    }
    this.dropDisk(disk);
    this.save();
  }

  /** Removes a disk from the state and its files from the storage domain (no checks). */
  dropDisk(disk: DiskRec): void {
    for (const vm of this.data.vms) vm.attachments = vm.attachments.filter((a) => a.diskId !== disk.id);
    this.data.disks = this.data.disks.filter((d) => d.id !== disk.id);
    rmSync(this.store.diskDir(disk.storageDomainId, disk.id), { recursive: true, force: true });
  }

  // ---------- VMs ----------

  resolveCluster(ref: unknown): ClusterRec {
    const r = obj(ref);
    if (!r.id && !r.name) throw incomplete("Vm", ["cluster.id|name"]);
    const c = this.data.clusters.find((x) => (r.id ? x.id === r.id : x.name === r.name));
    if (!c || (r.name && r.name !== c.name)) throw notFound(String(r.id ?? r.name));
    return c;
  }

  private allocateMac(): string {
    for (;;) {
      const n = this.data.nextMac++;
      const mac = `56:6f:${[24, 16, 8, 0].map((s) => ((n >>> s) & 0xff).toString(16).padStart(2, "0")).join(":")}`;
      if (!this.macInUse(mac)) return mac;
    }
  }

  private macInUse(mac: string): boolean {
    return this.data.vms.some((v) => v.nics.some((n) => n.mac === mac));
  }

  private newVmRecords(vm: VmRec): void {
    this.data.vms.push(vm);
    this.data.snapshots.push({
      id: newId(),
      vmId: vm.id,
      type: "active",
      description: "Active VM",
      date: vm.creationTime,
      status: "ok",
      persistMemory: false,
    });
  }

  /** `POST /vms`: from an OVF configuration (restore) or a plain Blank-template VM. */
  addVm(body: Record<string, unknown>, correlationId?: string): VmRec {
    const init = obj(body.initialization);
    if (init.configuration !== undefined) return this.importVm(body, correlationId);
    const name = inStr(body.name);
    const missing: string[] = [];
    if (!name) missing.push("name");
    if (!obj(body.cluster).id && !obj(body.cluster).name) missing.push("cluster.id|name");
    if (missing.length) throw incomplete("Vm", missing);
    const cluster = this.resolveCluster(body.cluster);
    if (this.findVmByName(name as string))
      throw conflict(
        "Cannot add VM. The VM name is already in use, please choose a unique name and try again.",
      );
    const topo = obj(obj(body.cpu).topology);
    const vm: VmRec = {
      id: newId(),
      name: name as string,
      description: inStr(body.description) ?? "",
      comment: inStr(body.comment) ?? "",
      status: "down",
      memory: inInt(body.memory, "memory") ?? GiB,
      cpu: {
        sockets: inInt(topo.sockets, "sockets") ?? 1,
        cores: inInt(topo.cores, "cores") ?? 1,
        threads: inInt(topo.threads, "threads") ?? 1,
      },
      osType: inStr(obj(body.os).type) ?? "other",
      type: (inStr(body.type) as VmRec["type"]) ?? "server",
      biosType: 0,
      creationTime: this.now(),
      clusterId: cluster.id,
      generation: 1,
      attachments: [],
      nics: [],
    };
    this.newVmRecords(vm);
    this.event("normal", 34, `VM ${vm.name} was created by admin@internal-authz.`, {
      vmId: vm.id,
      correlationId,
    });
    this.save();
    return vm;
  }

  private importVm(body: Record<string, unknown>, correlationId?: string): VmRec {
    const init = obj(body.initialization);
    const conf = obj(init.configuration);
    const missing: string[] = [];
    if (!obj(body.cluster).id && !obj(body.cluster).name) missing.push("cluster.id|name");
    if (!conf.type) missing.push("initialization.configuration.type");
    if (!conf.data) missing.push("initialization.configuration.data");
    if (missing.length) throw incomplete("Vm", missing);
    const cluster = this.resolveCluster(body.cluster);
    if (String(conf.type).toLowerCase() !== "ovf")
      throw badRequest(`Configuration type '${String(conf.type)}' is not supported by the simulator`);
    let parsed: ReturnType<typeof readOvf>;
    try {
      parsed = readOvf(String(conf.data));
    } catch (e) {
      if (e instanceof OvfError) throw new EngineFault(400, "Operation Failed", `[${e.message}]`);
      throw e;
    }
    const regenerate = inBool(init.regenerate_ids, false);
    const name = inStr(body.name) ?? parsed.name;
    const id = regenerate ? newId() : parsed.vmId;
    if (!regenerate && this.data.vms.some((v) => v.id === id))
      throw conflict("Cannot import VM. VM with the same identifier already exists.");
    if (this.findVmByName(name))
      throw conflict(
        "Cannot import VM. The VM name is already in use, please choose a unique name and try again.",
      );
    const nics: NicRec[] = [];
    for (const n of parsed.nics) {
      let mac = n.mac;
      if (regenerate || mac === "") mac = "";
      else {
        if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac) || (Number.parseInt(mac.slice(0, 2), 16) & 1) === 1)
          throw conflict(`Cannot import VM. MAC Address ${mac} is invalid.`);
        if (this.macInUse(mac) || nics.some((x) => x.mac === mac))
          throw conflict(`Cannot import VM. MAC Address ${mac} is already in use.`);
      }
      nics.push({
        id: regenerate || !n.id ? newId() : n.id,
        name: n.name,
        mac,
        network: n.network,
        profile: n.profile,
        model: n.model,
        linked: n.linked,
        plugged: n.plugged,
      });
    }
    for (const n of nics) if (!n.mac) n.mac = this.allocateMac();
    const topo = obj(obj(body.cpu).topology);
    const vm: VmRec = {
      id,
      name,
      description: inStr(body.description) ?? parsed.description,
      comment: inStr(body.comment) ?? parsed.comment,
      status: "down",
      memory: inInt(body.memory, "memory") ?? parsed.memoryMb * MiB,
      cpu: {
        sockets: inInt(topo.sockets, "sockets") ?? parsed.cpu.sockets,
        cores: inInt(topo.cores, "cores") ?? parsed.cpu.cores,
        threads: inInt(topo.threads, "threads") ?? parsed.cpu.threads,
      },
      osType: parsed.osType,
      type: parsed.vmType === 0 ? "desktop" : parsed.vmType === 2 ? "high_performance" : "server",
      biosType: parsed.biosType,
      creationTime: this.now(),
      clusterId: cluster.id,
      generation: 1,
      attachments: [],
      nics,
    };
    this.newVmRecords(vm);
    const job = this.startJob(
      `Importing VM ${name} from configuration to Cluster ${cluster.name}`,
      correlationId,
    );
    // The engine creates the VM without disks, then attaches each OVF disk that exists as a floating disk.
    // With regenerate_ids the attach objects still carry the OVF's VM id, so the attach fails.
    const failed: string[] = [];
    const active = this.activeSnapshot(vm.id);
    for (const ref of parsed.disks) {
      const disk = this.data.disks.find((d) => d.id === ref.diskId);
      const owner = disk ? this.vmOfDisk(disk.id) : undefined;
      if (regenerate || !disk || disk.status !== "ok" || (owner && !disk.shareable)) {
        failed.push(disk?.alias ?? (ref.alias || ref.diskId));
        continue;
      }
      vm.attachments.push({
        diskId: disk.id,
        interface: ref.interface,
        bootable: ref.bootable,
        active: true,
        readOnly: ref.readOnly,
        passDiscard: ref.passDiscard,
        usesScsiReservation: false,
      });
      for (const v of disk.volumes) if (v.snapshotId === "") v.snapshotId = active.id;
    }
    const finish = () => {
      this.endJob(job.id, "finished");
      this.event("normal", 9600, `VM ${name} has been successfully imported from the given configuration.`, {
        vmId: vm.id,
        correlationId,
      });
      if (failed.length > 0)
        this.event(
          "warning",
          9601,
          `VM ${name} has been imported from the given configuration but the following disk(s) failed to attach: ${failed.join(", ")}.`,
          { vmId: vm.id, correlationId },
        );
      this.save();
    };
    // Before 4.5.1 the import runs on after the answer (202): the VM is image_locked until it ends, and a
    // failed import rolls back, the VM vanishes (ref §4.4).
    if (!this.atLeast("4.5.1")) {
      this.lockVm(vm);
      this.save();
      this.later(this.opts.asyncDelayMs, `Importing VM ${name}`, () => {
        if (this.faults.takeFailure("vms.add.async")) {
          this.data.vms = this.data.vms.filter((v) => v !== vm);
          this.data.snapshots = this.data.snapshots.filter((s) => s.vmId !== vm.id);
          for (const d of this.data.disks)
            for (const v of d.volumes) if (v.snapshotId === active.id) v.snapshotId = "";
          this.endJob(job.id, "failed");
          this.event("error", 9603, `Failed to import VM ${name} from the given configuration.`, {
            correlationId,
          });
          this.save();
          return;
        }
        this.unlockVm(vm);
        finish();
      });
      return vm;
    }
    finish();
    return vm;
  }

  removeVm(id: string, detachOnly: boolean): void {
    const vm = this.vm(id);
    this.assertVmNotLocked(vm, "remove", "VM");
    this.backups.assertNoBackup(vm, "remove", "VM");
    if (vm.status === "up") throw conflict("Cannot remove VM. VM is running.");
    const disks = this.disksOf(vm);
    this.assertDisksFree(
      disks.filter((d) => d.status !== "illegal"),
      "remove",
      "VM",
    );
    if (
      this.data.transfers.some((t) => disks.some((d) => d.id === t.diskId) && !t.phase.startsWith("finished"))
    )
      throw conflict("Cannot remove VM. The VM is during a transfer operation.");
    for (const d of disks) {
      if (detachOnly) {
        for (const v of d.volumes) v.snapshotId = "";
      } else this.dropDisk(d);
    }
    this.data.snapshots = this.data.snapshots.filter((s) => s.vmId !== id);
    this.backups.forgetVm(id);
    this.data.vms = this.data.vms.filter((v) => v.id !== id);
    this.event("normal", 113, `VM ${vm.name} was successfully removed.`, { vmId: id });
    this.save();
  }

  setVmPower(id: string, up: boolean): void {
    const vm = this.vm(id);
    this.assertVmNotLocked(vm, up ? "run" : "stop", "VM");
    if (up && vm.status === "up") throw conflict("Cannot run VM. VM is running.");
    vm.status = up ? "up" : "down";
    this.save();
  }

  attachDisk(vmId: string, body: Record<string, unknown>): AttachmentRec {
    const vm = this.vm(vmId);
    const diskRef = obj(body.disk);
    if (!diskRef.id) throw incomplete("DiskAttachment", ["disk.id"]);
    const disk = this.disk(String(diskRef.id));
    this.assertVmNotLocked(vm, "attach", "Virtual Disk");
    if (disk.status === "locked") this.assertDisksFree([disk], "attach", "Virtual Disk");
    const owner = this.vmOfDisk(disk.id);
    if (owner && !disk.shareable) {
      if (owner.id === vm.id)
        throw conflict("Cannot attach Virtual Disk. The disk is already attached to VM.");
      throw conflict(`Cannot attach Virtual Disk. The disk is already attached to VM ${owner.name}.`);
    }
    const iface = (inStr(body.interface) ?? "virtio") as AttachmentRec["interface"];
    if (!["virtio", "virtio_scsi", "ide", "sata", "spapr_vscsi"].includes(iface))
      throw badRequest(`Invalid value '${iface}' for interface`);
    const a: AttachmentRec = {
      diskId: disk.id,
      interface: iface,
      bootable: inBool(body.bootable, false),
      active: inBool(body.active, false),
      readOnly: inBool(body.read_only, false),
      passDiscard: inBool(body.pass_discard, false),
      usesScsiReservation: inBool(body.uses_scsi_reservation, false),
    };
    if (a.bootable && vm.attachments.some((x) => x.bootable))
      throw conflict("Cannot attach Virtual Disk. The VM already has a bootable disk.");
    vm.attachments.push(a);
    const active = this.activeSnapshot(vm.id);
    for (const v of disk.volumes) if (v.snapshotId === "") v.snapshotId = active.id;
    vm.generation++;
    this.save();
    return a;
  }

  detachDisk(vmId: string, diskId: string, detachOnly: boolean): void {
    const vm = this.vm(vmId);
    const a = vm.attachments.find((x) => x.diskId === diskId);
    if (!a) throw notFound(diskId);
    const disk = this.disk(diskId);
    this.assertVmNotLocked(vm, "detach", "Virtual Disk");
    this.backups.assertNoBackup(vm, "detach", "Virtual Disk");
    this.assertDisksFree(
      [disk].filter((d) => d.status !== "illegal"),
      "detach",
      "Virtual Disk",
    );
    this.backups.invalidateForDisk(vm, disk, `disk ${disk.alias} was detached`);
    if (!detachOnly) {
      this.dropDisk(disk);
    } else {
      vm.attachments = vm.attachments.filter((x) => x !== a);
      for (const v of disk.volumes) v.snapshotId = "";
    }
    vm.generation++;
    this.save();
  }

  // ---------- snapshots ----------

  /** `POST /vms/{vm}/snapshots`: answers at once with the snapshot `locked`; overlays appear after the delay. */
  createSnapshot(
    vmId: string,
    body: Record<string, unknown>,
    correlationId?: string,
    internal: { forBackup?: string } = {},
  ): SnapshotRec {
    const vm = this.vm(vmId);
    this.assertVmNotLocked(vm, "create", "Snapshot");
    if (!internal.forBackup) this.backups.assertNoBackup(vm, "create", "Snapshot");
    const all = this.disksOf(vm).filter((d) => !d.shareable);
    let included: Array<{ disk: DiskRec; imageId?: string; initialSize?: number }>;
    if (body.disk_attachments === undefined) included = all.map((disk) => ({ disk }));
    else {
      included = [];
      for (const a of listOf(body.disk_attachments, "disk_attachment")) {
        const d = obj(a.disk);
        const id = inStr(d.id) ?? inStr(a.id);
        if (!id) throw incomplete("DiskAttachment", ["disk.id"]);
        const disk = all.find((x) => x.id === id);
        if (!disk)
          throw conflict(`Cannot create Snapshot. The following disk(s) are not attached to the VM: ${id}.`);
        const imageId = inStr(d.image_id);
        if (imageId !== undefined && !isGuid(imageId)) throw badRequest(`Invalid image id '${imageId}'`);
        included.push({ disk, imageId, initialSize: inInt(d.initial_size, "initial_size") });
      }
    }
    this.assertDisksFree(
      included.map((i) => i.disk),
      "create",
      "Snapshot",
    );
    const seen = new Set<string>();
    for (const i of included) {
      if (!i.imageId) continue;
      if (this.findVolume(i.imageId) || seen.has(i.imageId))
        throw conflict(`Cannot create Snapshot. The image ID ${i.imageId} is already in use.`);
      seen.add(i.imageId);
    }
    const active = this.activeSnapshot(vm.id);
    const newActiveId = newId();
    const description = inStr(body.description) ?? "";
    // The engine turns the ACTIVE record into the new REGULAR snapshot (the existing volumes keep its id)
    // and gives the ACTIVE record a new id.
    const snap: SnapshotRec = {
      id: active.id,
      vmId: vm.id,
      type: "regular",
      description,
      date: this.now(),
      status: "locked",
      persistMemory: inBool(body.persist_memorystate, true),
      ovf: this.snapshotOvf(
        vm,
        included.map((i) => i.disk),
      ),
    };
    const job = this.startJob(`Creating VM Snapshot ${description} for VM ${vm.name}`, correlationId);
    snap.pending = {
      kind: "create",
      newActiveId,
      disks: included.map((i) => ({
        diskId: i.disk.id,
        volumeId: i.imageId ?? newId(),
        ...(i.initialSize !== undefined ? { initialSize: i.initialSize } : {}),
      })),
      correlationId,
      jobId: job.id,
    };
    active.id = newActiveId;
    active.date = this.now();
    this.data.snapshots.push(snap);
    this.lockVm(vm);
    for (const i of included) this.lockDisk(i.disk, "snapshot");
    this.save();
    this.later(this.opts.asyncDelayMs, `Creating snapshot ${description}`, () =>
      this.completeSnapshotCreate(snap),
    );
    return snap;
  }

  /** Creates a snapshot and completes it at once (seeding, tests). */
  async snapshotNow(vmId: string, description: string): Promise<SnapshotRec> {
    const snap = this.createSnapshot(vmId, { description, persist_memorystate: "false" });
    await this.completeSnapshotCreate(snap);
    return snap;
  }

  private async completeSnapshotCreate(snap: SnapshotRec): Promise<void> {
    const p = snap.pending;
    if (p?.kind !== "create") return;
    if (this.faults.isSnapshotHeld(snap.id)) {
      this.later(this.opts.asyncDelayMs, `Creating snapshot ${snap.description}`, () =>
        this.completeSnapshotCreate(snap),
      );
      return;
    }
    const vm = this.vm(snap.vmId);
    if (this.faults.takeFailure("snapshots.add.async")) {
      // Roll back: the snapshot vanishes (polling clients see 404); the volumes it would have owned stay
      // with the ACTIVE record under its new id.
      this.data.snapshots = this.data.snapshots.filter((s) => s !== snap);
      for (const disk of this.disksOf(vm))
        for (const v of disk.volumes) if (v.snapshotId === snap.id) v.snapshotId = p.newActiveId;
      for (const d of p.disks) this.unlockDisk(this.disk(d.diskId));
      this.unlockVm(vm);
      this.endJob(p.jobId, "failed");
      this.event(
        "error",
        69,
        `Failed to complete snapshot '${snap.description}' creation for VM '${vm.name}'.`,
        {
          vmId: vm.id,
          correlationId: p.correlationId,
        },
      );
      this.save();
      return;
    }
    for (const d of p.disks) {
      const disk = this.disk(d.diskId);
      await this.diskMutex.run(disk.id, async () => {
        if (disk.volumes.some((v) => v.id === d.volumeId)) return; // done before a restart
        const parent = this.activeVolume(disk);
        const vol: VolumeRec = {
          id: d.volumeId,
          parentId: parent.id,
          format: "cow",
          sparse: true,
          snapshotId: p.newActiveId,
          creationTime: this.now(),
        };
        if (this.isBlock(disk)) vol.lvSize = roundUp(d.initialSize ?? BLOCK_COW_DEFAULT, LV_EXTENT);
        const path = this.volumePath(disk, vol);
        rmSync(path, { force: true });
        await Qcow2Volume.create(path, {
          size: disk.provisionedSize,
          backingName: parent.id,
          backingFormat: parent.format === "cow" ? "qcow2" : "raw",
        });
        disk.volumes.push(vol);
        this.backups.atSnapshotPoint(snap.id, disk, parent.id);
        this.save();
      });
    }
    // Disks left out of the snapshot keep their leaf, relabelled to the new ACTIVE snapshot.
    const overlaid = new Set(p.disks.map((d) => d.diskId));
    for (const disk of this.disksOf(vm)) {
      if (overlaid.has(disk.id)) continue;
      const leaf = this.activeVolume(disk);
      if (leaf.snapshotId === snap.id) leaf.snapshotId = p.newActiveId;
    }
    for (const d of p.disks) this.unlockDisk(this.disk(d.diskId));
    this.unlockVm(vm);
    snap.status = "ok";
    delete snap.pending;
    this.backups.afterSnapshotCreated(snap.id);
    vm.generation++;
    this.endJob(p.jobId, "finished");
    this.event(
      "normal",
      68,
      `Snapshot '${snap.description}' creation for VM '${vm.name}' has been completed.`,
      {
        vmId: vm.id,
        correlationId: p.correlationId,
      },
    );
    this.save();
  }

  /** `DELETE /vms/{vm}/snapshots/{id}`: the snapshot stays `locked` while its volumes merge, then vanishes. */
  removeSnapshot(
    vmId: string,
    sid: string,
    correlationId?: string,
    internal: { forBackup?: string } = {},
  ): void {
    const vm = this.vm(vmId);
    const snap = this.snapshot(vmId, sid);
    if (!internal.forBackup) this.backups.assertNoBackup(vm, "remove", "Snapshot");
    if (snap.type === "active")
      throw conflict("Cannot remove Snapshot. The Active VM snapshot cannot be removed.");
    if (snap.status === "locked")
      throw conflict(
        "Cannot remove Snapshot: Snapshot is currently being created or removed. Please try again in a few minutes.",
      );
    this.assertVmNotLocked(vm, "remove", "Snapshot");
    const disks = this.disksOf(vm).filter((d) => d.volumes.some((v) => v.snapshotId === sid));
    this.assertDisksFree(disks, "remove", "Snapshot");
    snap.status = "locked";
    const job = this.startJob(`Removing Snapshot ${snap.description} of VM ${vm.name}`, correlationId);
    snap.pending = { kind: "remove", correlationId, jobId: job.id };
    for (const d of disks) this.lockDisk(d, "merge");
    this.save();
    this.later(this.opts.asyncDelayMs, `Removing snapshot ${snap.description}`, () =>
      this.completeSnapshotRemove(snap),
    );
  }

  private async completeSnapshotRemove(snap: SnapshotRec): Promise<void> {
    const p = snap.pending;
    if (p?.kind !== "remove") return;
    if (this.faults.isSnapshotHeld(snap.id)) {
      this.later(this.opts.asyncDelayMs, `Removing snapshot ${snap.description}`, () =>
        this.completeSnapshotRemove(snap),
      );
      return;
    }
    const vm = this.vm(snap.vmId);
    const disks = this.data.disks.filter((d) => d.volumes.some((v) => v.snapshotId === snap.id));
    if (this.faults.takeFailure("snapshots.remove.async")) {
      // A failed merge: the engine unlocks everything and the snapshot is `ok` again, its volumes unmerged.
      for (const d of disks) this.unlockDisk(d);
      snap.status = "ok";
      delete snap.pending;
      this.endJob(p.jobId, "failed");
      this.event("error", 357, `Failed to delete snapshot '${snap.description}' for VM '${vm.name}'.`, {
        vmId: vm.id,
        correlationId: p.correlationId,
      });
      this.save();
      return;
    }
    for (const disk of disks) {
      await this.diskMutex.run(disk.id, () => this.mergeVolume(disk, snap.id));
    }
    this.data.snapshots = this.data.snapshots.filter((s) => s !== snap);
    for (const d of disks) this.unlockDisk(d);
    vm.generation++;
    this.endJob(p.jobId, "finished");
    this.event(
      "normal",
      356,
      `Snapshot '${snap.description}' deletion for VM '${vm.name}' has been completed.`,
      {
        vmId: vm.id,
        correlationId: p.correlationId,
      },
    );
    this.save();
  }

  /**
   * Merges as oVirt does: the child (next newer) volume's data is committed into the snapshot's volume, the
   * child is deleted and the merged volume takes its place (and its snapshot), so the volume id survives with
   * changed content. A grandchild is rebased onto the merged volume.
   */
  private async mergeVolume(disk: DiskRec, snapshotId: string): Promise<void> {
    const index = disk.volumes.findIndex((v) => v.snapshotId === snapshotId);
    const vol = disk.volumes[index];
    const childVol = disk.volumes[index + 1];
    if (!vol) return;
    if (!childVol) {
      // A leaf owned by the removed snapshot (not possible through the API) just joins the active state.
      const vm = this.vmOfDisk(disk.id);
      vol.snapshotId = vm ? this.activeSnapshot(vm.id).id : "";
      return;
    }
    const childPath = this.volumePath(disk, childVol);
    await commitVolume(this.layers(disk, vol.id), {
      id: childVol.id,
      path: childPath,
      format: childVol.format,
    });
    const grandchild = disk.volumes[index + 2];
    if (grandchild) {
      const g = await Qcow2Volume.open(this.volumePath(disk, grandchild), { writable: true });
      try {
        await g.setBacking(vol.id, vol.format === "cow" ? "qcow2" : "raw");
      } finally {
        await g.close();
      }
      grandchild.parentId = vol.id;
    }
    vol.snapshotId = childVol.snapshotId;
    if (childVol.lvSize !== undefined && vol.lvSize !== undefined && vol.format === "cow")
      vol.lvSize = Math.max(vol.lvSize, childVol.lvSize);
    disk.volumes.splice(index + 1, 1);
    this.save();
    await unlink(childPath).catch(() => undefined);
  }

  // ---------- guest I/O ----------

  /** Guest data of a disk's active chain. */
  async guestRead(diskId: string, offset: number, length: number): Promise<Buffer> {
    const disk = this.disk(diskId);
    const view = await openGuestView(this.layers(disk));
    try {
      return await view.read(offset, length);
    } finally {
      await view.close();
    }
  }

  /**
   * Simulated guest activity: `mib` MiB of new recognisable data at random 64 KiB-aligned places in the
   * active volumes of the VM's disks (1 MiB pieces, spread by disk size).
   */
  async guestWrite(
    vmName: string,
    mib: number,
    opts: { seed?: number; diskId?: string } = {},
  ): Promise<GuestWriteResult> {
    const vm = this.findVmByName(vmName);
    if (!vm) throw notFound(`VM ${vmName}`);
    let disks = this.disksOf(vm);
    if (opts.diskId) disks = disks.filter((d) => d.id === opts.diskId);
    if (disks.length === 0) throw conflict(`Cannot write to VM ${vmName}: it has no disks.`);
    for (const d of disks) {
      if (d.status === "illegal") throw conflict(`Cannot write to disk ${d.alias}: it is illegal.`);
      if (d.lock?.kind === "upload" || d.lock?.kind === "create")
        throw conflict(
          `Cannot write to disk ${d.alias}: it is being ${d.lock.kind === "create" ? "created" : "uploaded"}.`,
        );
    }
    const rnd = prng(opts.seed ?? Math.floor(Math.random() * 2 ** 31));
    const total = disks.reduce((s, d) => s + d.provisionedSize, 0);
    const plan = new Map<string, number[]>();
    const piece = MiB;
    for (let i = 0; i < mib; i++) {
      let pick = rnd(total);
      let disk = disks[0] as DiskRec;
      for (const d of disks) {
        if (pick < d.provisionedSize) {
          disk = d;
          break;
        }
        pick -= d.provisionedSize;
      }
      const slots = Math.floor((disk.provisionedSize - piece) / BLOCK) + 1;
      const offset = Math.floor(rnd(slots)) * BLOCK;
      const list = plan.get(disk.id) ?? [];
      list.push(offset);
      plan.set(disk.id, list);
    }
    const gen = `w${this.now().toString(36)}`;
    const result: GuestWriteResult = { vm: vm.name, disks: [], bytes: 0 };
    for (const [diskId, offsets] of plan) {
      const disk = this.disk(diskId);
      const entry = await this.diskMutex.run(disk.id, async () => {
        const active = this.activeVolume(disk);
        const chain = await openVolumeChain(this.layers(disk), { writable: true });
        const ranges: Array<{ offset: number; length: number }> = [];
        try {
          for (const off of offsets.sort((a, b) => a - b)) {
            await chain.write(off, randomBlocks({ vm: vm.name, disk: disk.alias, gen }, off, piece));
            this.backups.markGuestWrite(disk, off, piece);
            ranges.push({ offset: off, length: piece });
          }
          await chain.flush();
        } finally {
          await chain.close();
        }
        return { diskId: disk.id, volumeId: active.id, ranges };
      });
      result.disks.push(entry);
      result.bytes += entry.ranges.length * piece;
    }
    this.save();
    return result;
  }

  /** The guest writes `data` at `offset` of one disk (its active volume), as a running VM would. */
  async guestWriteAt(diskId: string, offset: number, data: Buffer): Promise<void> {
    const disk = this.disk(diskId);
    if (offset + data.length > disk.provisionedSize)
      throw conflict(`Cannot write to disk ${disk.alias}: the write ends past its size.`);
    if (disk.status === "illegal" || disk.lock?.kind === "upload" || disk.lock?.kind === "create")
      throw conflict(`Cannot write to disk ${disk.alias}: it is ${disk.lock?.kind ?? disk.status}.`);
    await this.diskMutex.run(disk.id, async () => {
      const chain = await openVolumeChain(this.layers(disk), { writable: true });
      try {
        await chain.write(offset, data);
        await chain.flush();
      } finally {
        await chain.close();
      }
      this.backups.markGuestWrite(disk, offset, data.length);
    });
    this.save();
  }

  /** Completes asynchronous operations that a stop or crash interrupted. */
  resumePending(): void {
    for (const d of this.data.disks)
      if (d.lock?.kind === "create")
        this.later(0, `Adding disk ${d.alias}`, () => this.completeDiskCreate(d.id));
    for (const s of this.data.snapshots) {
      if (s.pending?.kind === "create")
        this.later(0, "Creating snapshot", () => this.completeSnapshotCreate(s));
      if (s.pending?.kind === "remove")
        this.later(0, "Removing snapshot", () => this.completeSnapshotRemove(s));
    }
    this.transfers.resumeAfterRestart();
    this.backups.resumeAfterRestart();
  }
}

/** Commits a child volume's own allocated clusters (data and zero) into the chain ending at its parent. */
export async function commitVolume(parentChain: VolumeLayer[], child: VolumeLayer): Promise<void> {
  const target = await openVolumeChain(parentChain, { writable: true });
  try {
    if (child.format === "raw") throw new Error(`cannot commit raw volume ${child.id} into a parent`);
    const vol = await Qcow2Volume.open(child.path);
    const own = await openVolumeChain([child], { shallow: true });
    try {
      const runs = await vol.allocation();
      const step = 8 * MiB;
      for (const r of runs) {
        const end = Math.min(r.start + r.length, target.size);
        for (let pos = r.start; pos < end; pos += step) {
          const len = Math.min(step, end - pos);
          if (r.kind === "zero") await target.zero(pos, len);
          else await target.write(pos, await own.read(pos, len));
        }
      }
    } finally {
      await own.close();
      await vol.close();
    }
    await target.flush();
  } finally {
    await target.close();
  }
}
