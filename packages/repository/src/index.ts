export type { ObjectEntry, ObjectInfo, RepositoryBackend } from "./backend";
export { type CodecName, zstdDecompressedBound } from "./codec";
export {
  ChunkError,
  type ChunkProblem,
  CorruptObjectError,
  ObjectNotFoundError,
  RepositoryError,
  RepositoryFullError,
  RepositoryKeyError,
  SessionLostError,
} from "./errors";
export { DEFAULT_GC_GRACE_MS, type GcOptions, type GcReport } from "./gc";
export { LocalDirectoryBackend, type LocalDirectoryBackendOptions } from "./local-backend";
export {
  DEFAULT_CHUNK_SIZE,
  type LayerEntry,
  type LayerManifest,
  type LayerMeta,
  layerManifestSchema,
  type RepositoryConfig,
  type RestorePointDisk,
  type RestorePointInput,
  type RestorePointLayer,
  type RestorePointManifest,
  restorePointDiskSchema,
  restorePointLayerSchema,
  restorePointManifestSchema,
} from "./manifest";
export type { LayerRange, RandomAccessSource } from "./reader";
export { openRepository, Repository, type RepositoryOptions, type RepositoryStats } from "./repository";
export {
  ObjectStorageError,
  type ObjectStorageProblem,
  S3Backend,
  type S3BackendConfig,
  s3ConfigFromLocation,
} from "./s3-backend";
export { SESSION_LEASE_MS, type SessionOptions, type WriterSession } from "./store";
export type {
  BadChunk,
  BadLayer,
  BadRestorePoint,
  VerifyOptions,
  VerifyProgress,
  VerifyReport,
} from "./verify";
export type {
  LayerSegment,
  LayerSource,
  LayerWriteProgress,
  LayerWriteResult,
  WriteLayerOptions,
} from "./writer";
