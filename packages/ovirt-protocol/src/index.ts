export {
  ACTIVE_TRANSFER_PHASES,
  type DiskFormat,
  type DiskStatus,
  type EngineFaultBody,
  FINISHED_TRANSFER_PHASES,
  IMAGE_TRANSFER_PHASES,
  type ImageTransferDirection,
  type ImageTransferPhase,
  type ImageTransferTimeoutPolicy,
  type JobStatus,
  type Loose,
  type SnapshotStatus,
  type SnapshotType,
  type VmStatus,
} from "./engine";
export type {
  ImageioChecksumBody,
  ImageioExtent,
  ImageioFeature,
  ImageioOptionsBody,
  ImageioTicketSpec,
} from "./imageio";
