/**
 * The oVirt engine REST API's vocabulary (reference/ovirt-protocol.md §3, §4.6): the status strings and
 * enumerations of the JSON entities, as the engine writes them. The client reads them with `Loose<...>`
 * because newer engines add values; the simulator writes only these.
 */

/** A closed set of engine strings, widened for reading answers of engines that know more values. */
export type Loose<T extends string> = T | (string & {});

/** `phase` of an image transfer (ref §4.6), in the order the state machine moves through them. */
export const IMAGE_TRANSFER_PHASES = [
  "unknown",
  "initializing",
  "transferring",
  "resuming",
  "paused_system",
  "paused_user",
  "cancelled",
  "cancelled_system",
  "cancelled_user",
  "finalizing_success",
  "finalizing_failure",
  "finalizing_cleanup",
  "finished_success",
  "finished_failure",
  "finished_cleanup",
] as const;
export type ImageTransferPhase = (typeof IMAGE_TRANSFER_PHASES)[number];

/** Phases in which the client may still move data or the engine still works on the transfer. */
export const ACTIVE_TRANSFER_PHASES: ReadonlySet<string> = new Set<ImageTransferPhase>([
  "initializing",
  "transferring",
  "resuming",
  "paused_system",
  "paused_user",
]);

/** Phases a transfer ends in; the engine removes the entity some time after (4.4.7+) or at once (older). */
export const FINISHED_TRANSFER_PHASES: ReadonlySet<string> = new Set<ImageTransferPhase>([
  "finished_success",
  "finished_failure",
  "finished_cleanup",
]);

export type ImageTransferDirection = "upload" | "download";
export type ImageTransferTimeoutPolicy = "legacy" | "pause" | "cancel";

/** `format` of a disk or volume: `cow` = qcow2, `raw` = raw. */
export type DiskFormat = "cow" | "raw";
/** `status` of a disk. */
export type DiskStatus = "ok" | "locked" | "illegal";

/** `status` of a VM (ref §3.1). */
export type VmStatus =
  | "unassigned"
  | "down"
  | "up"
  | "powering_up"
  | "paused"
  | "migrating"
  | "unknown"
  | "not_responding"
  | "wait_for_launch"
  | "reboot_in_progress"
  | "saving_state"
  | "restoring_state"
  | "suspended"
  | "image_locked"
  | "powering_down";

/** `snapshot_status` of a snapshot. */
export type SnapshotStatus = "ok" | "locked" | "in_preview";
/** `snapshot_type` of a snapshot. */
export type SnapshotType = "regular" | "active" | "stateless" | "preview";

/** `status` of a job (`/jobs`). */
export type JobStatus = "started" | "finished" | "failed" | "aborted";

/** The body of an engine fault (ref §1.4): the HTTP error answer, or nested as `fault` in an action's answer. */
export interface EngineFaultBody {
  reason: string;
  detail: string;
}

/**
 * `phase` of a VM backup (ref §3.8), in order. `succeeded` and `failed` exist since 4.4.7; older engines
 * delete the entity after finalize instead.
 */
export const BACKUP_PHASES = [
  "initializing",
  "starting",
  "ready",
  "finalizing",
  "succeeded",
  "failed",
] as const;
export type BackupPhase = (typeof BACKUP_PHASES)[number];

/** `backup_mode` of a disk in a backup (`GET .../backups/{id}/disks`). */
export type BackupMode = "full" | "incremental";

/** `state` of a VM checkpoint (ref §3.9, 4.4.7+). */
export type CheckpointState = "created" | "invalid";

/** The engine's name of a backup's VM snapshot in hybrid mode (cluster level ≥ 4.7, ref §4.7). */
export const HYBRID_BACKUP_SNAPSHOT_DESCRIPTION = "Auto-generated for Backup VM";
