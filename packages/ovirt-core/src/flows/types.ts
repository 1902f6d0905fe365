import type { Readable } from "node:stream";
import type { Repository, RestorePointManifest } from "@lifeboat/repository";
import type { EngineClient } from "../engine";

/** Progress of a flow; may come often, the caller throttles. `rate` is bytes per second since the phase began. */
export interface FlowProgress {
  phase: string;
  bytesDone: number;
  bytesTotal: number;
  rate: number;
}

/** One step of a flow worth a line in the job's event log. */
export interface FlowEvent {
  level: "info" | "warn" | "error";
  step: string;
  message: string;
  details?: Record<string, unknown>;
}

/** Something a flow created on (or removed from) the engine, journaled so a successor can clean up after a crash. */
export interface EngineObjectRecord {
  kind: "snapshot" | "image_transfer" | "disk" | "vm" | "backup";
  id: string;
  vmId?: string;
  diskId?: string;
  state: "created" | "removed";
  /** Why it exists, e.g. "temporary backup snapshot", "layer download", "restored disk". */
  purpose: string;
}

/** An engine object the flow created and could not remove: shown to the operator, never silently dropped. */
export interface Leftover {
  kind: EngineObjectRecord["kind"];
  id: string;
  vmId?: string;
  description: string;
  /** Why it could not be cleaned up (the engine's words). */
  error: string;
}

export interface FlowHooks {
  signal?: AbortSignal;
  onProgress?(p: FlowProgress): void;
  onEvent?(e: FlowEvent): void;
  /**
   * Awaited as soon as something is created on / removed from the engine, BEFORE the flow goes on: the worker
   * journals it so that a successor can clean up after a SIGKILL.
   */
  onEngineObject?(o: EngineObjectRecord): Promise<void> | void;
}

/** How to reach the imageio daemons (TLS as for the engine; `workers` = data connections per transfer). */
export interface ImageioSettings {
  caPem?: string;
  insecure?: boolean;
  workers?: number;
}

/** Upper bounds of the flows' waits, in ms. The defaults suit a busy production engine. */
export interface FlowDeadlines {
  /** Waiting for the VM's OVF while a disk is locked (default 10 min). */
  ovfMs?: number;
  /** Creating a snapshot, until `ok` (default 30 min). */
  snapshotMs?: number;
  /** A VM backup of the backup API becoming ready, and being finalized (default 30 min). */
  backupMs?: number;
  /** Removing (merging) a snapshot, 409 retries included (default 2 h). */
  snapshotRemoveMs?: number;
  /** An image transfer reaching `transferring` (default 5 min). */
  transferStartMs?: number;
  /** An image transfer reaching `finished_*` after finalize or cancel (default 30 min). */
  transferFinishMs?: number;
  /** A created disk reaching `ok`, a VM leaving `image_locked` (default 30 min). */
  diskMs?: number;
  /** Each cleanup step after a failure or abort (default 10 min). */
  cleanupMs?: number;
  /** First delay of the 409 backoff during cleanup (default 2 s, doubling up to 30 s). */
  conflictRetryMs?: number;
}

/** What the catalog (or the repository) knows of a volume from an earlier backup. */
export interface KnownLayer {
  layerId: string;
  sha256: string;
  size: number;
  /** The imageio daemon's `/checksum` of the volume when it was backed up. */
  imageioChecksum?: string;
}

export interface BackupOptions extends FlowHooks {
  engine: EngineClient;
  imageio: ImageioSettings;
  vmId: string;
  repository: Repository;
  /** Caller-chosen uuid, also the repository manifest id. */
  restorePointId: string;
  /** The last known layer for an image id (catalog or repository), to skip unchanged volumes. */
  knownLayer?(imageId: string): Promise<KnownLayer | undefined>;
  /** Keep the temporary snapshot (default: remove it, merging it back). */
  keepSnapshot?: boolean;
  description?: string;
  tags?: string[];
  /** Goes into the snapshot description, so an operator can tell which job made it. */
  jobRef: string;
  deadlines?: FlowDeadlines;
}

export interface BackupLayerResult {
  imageId: string;
  parentImageId: string | null;
  format: "raw" | "cow";
  virtualSize: number;
  /** Bytes of the layer (the volume file as imageio serves it). */
  size: number;
  sha256: string;
  layerId: string;
  imageioChecksum?: string;
  /** Taken from an earlier backup without downloading. */
  reused: boolean;
  /** The VM snapshot that owns the volume. */
  snapshotId?: string;
}

export interface BackupDiskResult {
  diskId: string;
  alias: string;
  interface?: string;
  bootable: boolean;
  provisionedSize: number;
  /** Format of the disk's base volume. */
  format: "raw" | "cow";
  storageDomain?: { id: string; name?: string };
  /** Base first. */
  layers: BackupLayerResult[];
}

export interface BackupVmFacts {
  id: string;
  name: string;
  osType?: string;
  clusterName?: string;
  memoryMiB?: number;
  cpuCount?: number;
  nicCount: number;
}

export interface BackupResult {
  restorePoint: RestorePointManifest;
  vm: BackupVmFacts;
  ovf: string;
  disks: BackupDiskResult[];
  snapshot: { id: string; kept: boolean };
  /** Bytes downloaded from imageio. */
  transferredBytes: number;
  /** Bytes the repository grew by (new chunks, compressed). */
  newStoredBytes: number;
  /** Engine objects this run created and could not remove. */
  leftovers: Leftover[];
}

export interface StorageDomainRef {
  id?: string;
  name?: string;
}

export interface RestoreTarget {
  name: string;
  cluster?: { id?: string; name?: string };
  storageDomain?: StorageDomainRef;
  /** auto (default): new ids when the original VM or any of its disks still exists. */
  identity?: "auto" | "new" | "original";
}

export interface RestoreVmOptions extends FlowHooks {
  engine: EngineClient;
  imageio: ImageioSettings;
  repository: Repository;
  restorePoint: RestorePointManifest;
  target: RestoreTarget;
  /** Re-read and re-hash the restore point's chunks before touching the engine (default true). */
  verify?: boolean;
  deadlines?: FlowDeadlines;
  /** Goes into descriptions and correlation ids. */
  jobRef?: string;
}

export interface RestoreVmResult {
  vmId: string;
  identity: "new" | "original";
  disks: Array<{ sourceDiskId: string; diskId: string; imageIds: string[] }>;
}

export interface RestoreDiskOptions extends FlowHooks {
  engine: EngineClient;
  imageio: ImageioSettings;
  repository: Repository;
  restorePoint: RestorePointManifest;
  /** The disk id in the restore point. */
  diskId: string;
  target: { alias: string; storageDomain?: StorageDomainRef; format?: "cow" | "raw" };
  verify?: boolean;
  deadlines?: FlowDeadlines;
  jobRef?: string;
}

/** A disk image of a restore point, readable at any byte range (HTTP Range) without buffering. */
export interface DiskImageExport {
  size: number;
  contentType: string;
  fileName: string;
  /** Bytes [start, end], end inclusive. A bad chunk fails the stream with a ChunkError. */
  read(start: number, end: number): Readable;
  close(): Promise<void>;
}

/** A flow failed. `leftovers` lists what it created on the engine and could not remove. */
export class FlowError extends Error {
  readonly leftovers: Leftover[];
  /** The engine's own words (fault reason/detail), when the failure came from the engine. */
  readonly engineMessage?: string;
  /** The flow step that failed (e.g. "snapshot", "download", "upload"). */
  readonly step: string;
  /** The flow was cancelled through its AbortSignal. */
  readonly aborted: boolean;

  constructor(init: {
    message: string;
    step: string;
    leftovers?: Leftover[];
    engineMessage?: string;
    aborted?: boolean;
    cause?: unknown;
  }) {
    super(init.message, { cause: init.cause });
    this.name = "FlowError";
    this.step = init.step;
    this.leftovers = init.leftovers ?? [];
    this.engineMessage = init.engineMessage;
    this.aborted = init.aborted ?? false;
  }
}
