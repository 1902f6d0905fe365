import type {
  BackupMode,
  BackupPhase,
  CheckpointState,
  DiskFormat,
  DiskStatus,
  ImageTransferDirection,
  ImageTransferPhase,
  ImageTransferTimeoutPolicy,
  JobStatus,
  SnapshotStatus,
  SnapshotType,
  VmStatus,
} from "@lifeboat/ovirt-protocol";

/** The simulator's persisted state, in oVirt's vocabulary. Everything here is plain JSON. */

/** The VM statuses the simulator moves through. */
export type SimVmStatus = Extract<VmStatus, "down" | "up" | "image_locked">;

export interface DataCenterRec {
  id: string;
  name: string;
}

/** Cluster compatibility levels the simulator knows; they decide the backup API's behaviour (ref §4.7). */
export const CLUSTER_LEVELS = ["4.4", "4.6", "4.7", "4.8"] as const;
export type ClusterLevel = (typeof CLUSTER_LEVELS)[number];

export interface ClusterRec {
  id: string;
  name: string;
  dataCenterId: string;
  level: ClusterLevel;
}

export interface HostRec {
  id: string;
  name: string;
  address: string;
  clusterId: string;
}

export interface StorageDomainRec {
  id: string;
  name: string;
  /** nfs = file storage; iscsi = block storage (LVs; raw+sparse rejected, cow volumes sized by LV). */
  storageType: "nfs" | "iscsi";
  address: string;
  path: string;
  master: boolean;
  /** Bytes, advertised capacity. */
  capacity: number;
}

export interface VolumeRec {
  id: string;
  parentId: string | null;
  format: DiskFormat;
  sparse: boolean;
  /** VM snapshot that owns this volume (the leaf carries the VM's active snapshot id); "" for floating disks. */
  snapshotId: string;
  creationTime: number;
  /** Block domains: logical volume size (the file backend serves this many bytes). */
  lvSize?: number;
}

export type DiskLockKind = "create" | "snapshot" | "merge" | "upload" | "download" | "backup";

/** Guest byte ranges [start, end), sorted, merged, aligned to the bitmap granularity (64 KiB). */
export type Ranges = Array<[number, number]>;

/** A disk's dirty bitmap for one checkpoint: what the guest wrote since that checkpoint (a qcow2 bitmap). */
export interface BitmapRec {
  checkpointId: string;
  ranges: Ranges;
}

export interface DiskRec {
  id: string;
  alias: string;
  description: string;
  storageDomainId: string;
  provisionedSize: number;
  status: DiskStatus;
  contentType: "data";
  backup: "none" | "incremental";
  shareable: boolean;
  wipeAfterDelete: boolean;
  propagateErrors: boolean;
  creationTime: number;
  /** Base → active. The last volume's id is the disk's `image_id`. */
  volumes: VolumeRec[];
  lock?: { kind: DiskLockKind; transferId?: string; backupId?: string };
  /** Dirty bitmaps of the VM's checkpoints that include this disk. */
  bitmaps?: BitmapRec[];
}

export interface AttachmentRec {
  diskId: string;
  interface: "virtio" | "virtio_scsi" | "ide" | "sata" | "spapr_vscsi";
  bootable: boolean;
  active: boolean;
  readOnly: boolean;
  passDiscard: boolean;
  usesScsiReservation: boolean;
}

export interface NicRec {
  id: string;
  name: string;
  mac: string;
  network: string;
  profile: string;
  /** OVF ResourceSubType code: 3 virtio, 2 e1000, 6 e1000e, 1 rtl8139. */
  model: number;
  linked: boolean;
  plugged: boolean;
}

export interface VmRec {
  id: string;
  name: string;
  description: string;
  comment: string;
  status: SimVmStatus;
  /** Status to return to when an image lock ends. */
  statusBeforeLock?: "down" | "up";
  memory: number;
  cpu: { sockets: number; cores: number; threads: number };
  osType: string;
  type: "server" | "desktop" | "high_performance";
  biosType: number;
  creationTime: number;
  clusterId: string;
  generation: number;
  attachments: AttachmentRec[];
  nics: NicRec[];
}

export interface SnapshotRec {
  id: string;
  vmId: string;
  type: Extract<SnapshotType, "active" | "regular">;
  description: string;
  date: number;
  status: Extract<SnapshotStatus, "ok" | "locked">;
  persistMemory: boolean;
  /** OVF of the VM when the snapshot was taken (regular snapshots). */
  ovf?: string;
  /** An async operation still to complete (survives a restart). */
  pending?: PendingSnapshotOp;
}

export type PendingSnapshotOp =
  | {
      kind: "create";
      newActiveId: string;
      /** Disks that get a new overlay, with the id of the new active volume. */
      disks: Array<{ diskId: string; volumeId: string; initialSize?: number }>;
      correlationId?: string;
      jobId: string;
    }
  | { kind: "remove"; correlationId?: string; jobId: string };

export interface BackupDiskRec {
  diskId: string;
  mode: BackupMode;
  /** Why the disk is backed up in full within an incremental backup (for the engine's event). */
  fullReason?: string;
  /** The point-in-time view: hybrid → the chain up to the snapshot's volume; live → the frozen scratch copy. */
  volumeId?: string;
  /** Live mode: the scratch volume (qcow2 on the storage domain) holding the guest data at the start point. */
  scratchPath?: string;
  /** Incremental mode: what the guest wrote since from_checkpoint_id, frozen at the start point. */
  dirty?: Ranges;
}

export interface BackupRec {
  id: string;
  vmId: string;
  phase: BackupPhase;
  description: string;
  creationDate: number;
  modificationDate: number;
  hostId: string;
  fromCheckpointId?: string;
  /** The checkpoint this backup creates (shown from the start, kept only on success). */
  toCheckpointId?: string;
  mode: "hybrid" | "live";
  /** Hybrid mode: the VM snapshot ("Auto-generated for Backup VM") the disks are read from. */
  snapshotId?: string;
  requireConsistency: boolean;
  disks: BackupDiskRec[];
  /** The client asked to finalize; the step moves on once the backup is ready. */
  finalizeRequested?: boolean;
  failureReason?: string;
  correlationId?: string;
  jobId: string;
}

export interface CheckpointRec {
  id: string;
  vmId: string;
  parentId: string | null;
  creationDate: number;
  state: CheckpointState;
  description: string;
  diskIds: string[];
  /** Created at the backup's start; becomes visible when the backup succeeds. */
  pending?: boolean;
}

export interface TransferRec {
  id: string;
  ticketId: string;
  direction: ImageTransferDirection;
  /** As requested; null = not given (file backend). */
  format: DiskFormat | null;
  backend: "file" | "nbd";
  shallow: boolean;
  diskId: string;
  volumeId: string;
  /** The request named a disk snapshot (volume) rather than the disk. */
  targetSnapshot: boolean;
  /** A download of a backup's disk (NBD export of the backup's point-in-time view). */
  backupId?: string;
  hostId: string;
  phase: ImageTransferPhase;
  inactivityTimeout: number;
  timeoutPolicy: ImageTransferTimeoutPolicy;
  ticketSize: number;
  creationTime: number;
  /** Epoch ms of the last phase change (drives the finished-entity cleanup). */
  phaseTime: number;
  transferred: number;
  failureReason?: string;
  correlationId?: string;
}

export interface JobRec {
  id: string;
  description: string;
  status: JobStatus;
  startTime: number;
  endTime?: number;
  lastUpdated: number;
  correlationId?: string;
}

export interface EventRec {
  id: number;
  time: number;
  severity: "normal" | "warning" | "error" | "alert";
  code: number;
  description: string;
  correlationId?: string;
  vmId?: string;
  diskId?: string;
}

export interface SimStateData {
  version: 1;
  dataCenter: DataCenterRec;
  /** The first one is the Default cluster (new VMs, the host). */
  clusters: ClusterRec[];
  host: HostRec;
  storageDomains: StorageDomainRec[];
  vms: VmRec[];
  disks: DiskRec[];
  snapshots: SnapshotRec[];
  transfers: TransferRec[];
  backups: BackupRec[];
  checkpoints: CheckpointRec[];
  jobs: JobRec[];
  events: EventRec[];
  nextEventId: number;
  /** Next MAC of the pool 56:6f:xx:xx:xx:xx. */
  nextMac: number;
}
