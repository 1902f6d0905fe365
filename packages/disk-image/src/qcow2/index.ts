export { type ConvertResult, convertChainToRaw } from "./convert";
export { Qcow2Error } from "./errors";
export {
  detectImageFormat,
  MAX_L1_BYTES,
  parseQcow2Header,
  QCOW2_MAGIC,
  Qcow2Extension,
  type Qcow2FeatureName,
  type Qcow2Header,
  Qcow2Incompatible,
  readFirstCluster,
  readQcow2Header,
} from "./header";
export {
  type AllocationExtent,
  type AllocationKind,
  type BackingReader,
  type ImageLayer,
  MAX_GUEST_READ,
  Qcow2Image,
  RawImage,
} from "./image";
export { type ChainExtent, ImageChain, openImageLayer } from "./image-chain";
export { fullBackingFilename, type QemuImgInfoJson, qemuInfo, rewriteBackingFile } from "./info";
export { type CreateQcow2Options, type L2Entry, type LayerRun, Qcow2Volume } from "./volume";
