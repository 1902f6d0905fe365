/**
 * The backup and restore flows (design §2–§3): functions that drive the engine and imageio, report progress and
 * events through hooks, journal every engine object they create (onEngineObject) and clean up after themselves
 * on every exit path. A failure is a FlowError carrying the engine's words and what could not be cleaned up.
 */
export { backupVm } from "./backup";
export {
  type BackupApiDiskResult,
  type BackupApiOptions,
  type BackupApiResult,
  backupVmWithBackupApi,
  type PreviousBackupPoint,
  previousBackupPoint,
} from "./backup-api";
export {
  type PruneCheckpointsOptions,
  type PruneCheckpointsResult,
  pruneCheckpoints,
} from "./checkpoints";
export { cleanupEngineObjects } from "./cleanup";
export { openDiskImageExport } from "./export";
export { firstKnown, type KnownLayerLookup, storedLayers } from "./known-layers";
export {
  type PointDisk,
  type PointLayer,
  type PointView,
  pointView,
  type RestorePointDocument,
} from "./manifest";
export { restoreVm } from "./restore";
export { restoreDisk } from "./restore-disk";
export * from "./types";
