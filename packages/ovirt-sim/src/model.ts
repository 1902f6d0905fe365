import type {
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

export interface ClusterRec {
  id: string;
  name: string;
  dataCenterId: string;
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

export type DiskLockKind = "create" | "snapshot" | "merge" | "upload" | "download";

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
  lock?: { kind: DiskLockKind; transferId?: string };
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
  cluster: ClusterRec;
  host: HostRec;
  storageDomains: StorageDomainRec[];
  vms: VmRec[];
  disks: DiskRec[];
  snapshots: SnapshotRec[];
  transfers: TransferRec[];
  jobs: JobRec[];
  events: EventRec[];
  nextEventId: number;
  /** Next MAC of the pool 56:6f:xx:xx:xx:xx. */
  nextMac: number;
}
