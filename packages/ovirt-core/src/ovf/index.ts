export {
  EMPTY_GUID,
  type OvfDisk,
  type OvfInfo,
  type OvfNic,
  type OvfSnapshot,
  type OvfVm,
  type OvfVolume,
  parseOvf,
  parseOvfDate,
  splitHref,
} from "./parse";
export { type OvfRewriteOptions, rewriteOvf } from "./rewrite";
export { MAX_OVF_BYTES, OvfError } from "./xml";
