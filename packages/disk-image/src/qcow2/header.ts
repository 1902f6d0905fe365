import type { RandomAccessSource } from "../io";
import { Qcow2Error } from "./errors";

export const QCOW2_MAGIC = 0x514649fb;

/** Header extension types (qemu docs/interop/qcow2.rst). */
export const Qcow2Extension = {
  end: 0x00000000,
  backingFormat: 0xe2792aca,
  featureNameTable: 0x6803f857,
  bitmaps: 0x23852875,
  fullDiskEncryption: 0x0537be77,
  externalDataFile: 0x44415441,
} as const;

/** Incompatible feature bits. */
export const Qcow2Incompatible = {
  dirty: 1n << 0n,
  corrupt: 1n << 1n,
  externalDataFile: 1n << 2n,
  compressionType: 1n << 3n,
  extendedL2: 1n << 4n,
} as const;
const KNOWN_INCOMPATIBLE = 0x1fn;

export interface Qcow2FeatureName {
  type: "incompatible" | "compatible" | "autoclear" | number;
  bit: number;
  name: string;
}

export interface Qcow2Header {
  version: 2 | 3;
  /** `0.10` for v2, `1.1` for v3, as qemu-img prints it. */
  compat: "0.10" | "1.1";
  /** Offset of the backing file name in the first cluster; 0 = no backing file. */
  backingFileOffset: number;
  backingFileSize: number;
  /** The backing file name exactly as stored (oVirt: the bare parent volume UUID); null for a base. */
  backingFile: string | null;
  /** From the backing format extension (`qcow2`, `raw`), if present. */
  backingFormat: string | null;
  clusterBits: number;
  clusterSize: number;
  /** Guest (virtual) size in bytes. */
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: "deflate" | "zstd";
  dirty: boolean;
  corrupt: boolean;
  extendedL2: boolean;
  lazyRefcounts: boolean;
  /**
   * Persistent dirty bitmaps (oVirt checkpoints): the bitmaps extension, when present and marked consistent
   * (autoclear bit 0); null otherwise.
   */
  bitmaps: { count: number; directorySize: number; directoryOffset: number } | null;
  featureNames: Qcow2FeatureName[];
  /** Every header extension found, in file order (type, offset of its data, data length). */
  extensions: Array<{ type: number; offset: number; length: number }>;
}

const MIN_CLUSTER_BITS = 9;
const MAX_CLUSTER_BITS = 21;
const MAX_BACKING_NAME = 1023;
/** qemu's QCOW_MAX_L1_SIZE: 32 MiB of L1 entries. Bounds the memory an L1 table can make us allocate. */
export const MAX_L1_BYTES = 32 * 1024 * 1024;
/** Bytes of the fixed v3 header including the compression type byte and padding. */
const HEADER_PROBE = 112;

function u64(buf: Buffer, at: number): bigint {
  return buf.readBigUInt64BE(at);
}

/**
 * Parses a qcow2 header from the start of the image. `first` holds the first cluster (or as much of the file
 * as exists); `fileSize`, when known, bounds the tables. Throws Qcow2Error for anything we cannot read safely.
 */
export function parseQcow2Header(first: Buffer, name = "image", fileSize: number | null = null): Qcow2Header {
  const fail: (field: string, detail: string) => never = (field, detail) => {
    throw new Qcow2Error(name, field, detail);
  };
  if (first.length < 72) fail("header", `file is truncated (${first.length} bytes, a header needs 72)`);
  if (first.readUInt32BE(0) !== QCOW2_MAGIC) fail("magic", "not a qcow2 image");
  const version = first.readUInt32BE(4);
  if (version !== 2 && version !== 3) fail("version", `version ${version} is not supported (2 or 3)`);
  const clusterBits = first.readUInt32BE(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS)
    fail("cluster_bits", `${clusterBits} is out of range ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`);
  const clusterSize = 2 ** clusterBits;

  // Offsets and sizes must be exact JS numbers; anything beyond 2^53 is hostile or unsupported.
  const safe = (field: string, v: bigint): number => {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(field, `${v} is beyond ${Number.MAX_SAFE_INTEGER}`);
    return Number(v);
  };
  const size = safe("size", u64(first, 24));
  const backingFileOffset = safe("backing_file_offset", u64(first, 8));
  const backingFileSize = first.readUInt32BE(16);
  const cryptMethod = first.readUInt32BE(32);
  const l1Size = first.readUInt32BE(36);
  const l1TableOffset = safe("l1_table_offset", u64(first, 40));
  const refcountTableOffset = safe("refcount_table_offset", u64(first, 48));
  const refcountTableClusters = first.readUInt32BE(56);
  const nbSnapshots = first.readUInt32BE(60);
  const snapshotsOffset = safe("snapshots_offset", u64(first, 64));

  let incompatibleFeatures = 0n;
  let compatibleFeatures = 0n;
  let autoclearFeatures = 0n;
  let refcountOrder = 4;
  let headerLength = 72;
  let compressionType: "deflate" | "zstd" = "deflate";
  if (version === 3) {
    if (first.length < 104)
      fail("header", `file is truncated (${first.length} bytes, a v3 header needs 104)`);
    incompatibleFeatures = u64(first, 72);
    compatibleFeatures = u64(first, 80);
    autoclearFeatures = u64(first, 88);
    refcountOrder = first.readUInt32BE(96);
    headerLength = first.readUInt32BE(100);
    if (headerLength < 104) fail("header_length", `${headerLength} is below the v3 minimum 104`);
    if (headerLength > clusterSize)
      fail("header_length", `${headerLength} exceeds the cluster size ${clusterSize}`);
    if (refcountOrder > 6) fail("refcount_order", `${refcountOrder} is above 6`);
    if (headerLength > 104) {
      if (first.length < 105) fail("header", "file is truncated inside the header");
      const ct = first.readUInt8(104);
      if (ct === 1) compressionType = "zstd";
      else if (ct !== 0) fail("compression_type", `${ct} is unknown (0 deflate, 1 zstd)`);
    }
    const ctBit = (incompatibleFeatures & Qcow2Incompatible.compressionType) !== 0n;
    if (compressionType !== "deflate" && !ctBit)
      fail("compression_type", "is set but incompatible feature bit 3 (compression type) is not");
    if (compressionType === "deflate" && ctBit)
      fail("incompatible_features", "bit 3 (compression type) is set but compression_type is deflate");
  }
  if (first.length < headerLength) fail("header", `file is truncated inside the ${headerLength}-byte header`);

  // Header extensions run from the end of the header to the backing file name (or the end of the cluster).
  const extEnd = Math.min(backingFileOffset > 0 ? backingFileOffset : clusterSize, clusterSize);
  const extensions: Qcow2Header["extensions"] = [];
  const featureNames: Qcow2FeatureName[] = [];
  let backingFormat: string | null = null;
  let hasEncryptionHeader = false;
  let dataFile: string | null = null;
  let bitmaps: Qcow2Header["bitmaps"] = null;
  let at = headerLength;
  while (at + 8 <= extEnd) {
    if (first.length < at + 8) fail("header extension", `file is truncated at offset ${at}`);
    const type = first.readUInt32BE(at);
    const len = first.readUInt32BE(at + 4);
    if (type === Qcow2Extension.end) break;
    const dataAt = at + 8;
    if (dataAt + len > extEnd)
      fail(
        "header extension",
        `0x${type.toString(16)} at offset ${at} (length ${len}) overruns the header area`,
      );
    if (first.length < dataAt + len) fail("header extension", `file is truncated at offset ${dataAt}`);
    const data = first.subarray(dataAt, dataAt + len);
    extensions.push({ type, offset: dataAt, length: len });
    switch (type) {
      case Qcow2Extension.backingFormat:
        if (len > 15) fail("backing format extension", `length ${len} is too large`);
        backingFormat = data.toString("utf8");
        break;
      case Qcow2Extension.featureNameTable:
        for (let i = 0; i + 48 <= len; i += 48) {
          const t = data.readUInt8(i);
          const raw = data.subarray(i + 2, i + 48);
          const nul = raw.indexOf(0);
          featureNames.push({
            type: t === 0 ? "incompatible" : t === 1 ? "compatible" : t === 2 ? "autoclear" : t,
            bit: data.readUInt8(i + 1),
            name: raw.subarray(0, nul < 0 ? raw.length : nul).toString("utf8"),
          });
        }
        break;
      case Qcow2Extension.fullDiskEncryption:
        hasEncryptionHeader = true;
        break;
      case Qcow2Extension.externalDataFile:
        dataFile = data.toString("utf8");
        break;
      case Qcow2Extension.bitmaps:
        // qemu ignores the extension unless autoclear bit 0 says it is consistent.
        if (len >= 24 && (autoclearFeatures & 1n) !== 0n)
          bitmaps = {
            count: data.readUInt32BE(0),
            directorySize: safe("bitmap_directory_size", data.readBigUInt64BE(8)),
            directoryOffset: safe("bitmap_directory_offset", data.readBigUInt64BE(16)),
          };
        break;
    }
    at = dataAt + Math.ceil(len / 8) * 8;
  }

  // Refuse what we cannot read, naming the field: reading it anyway would return wrong guest data.
  const unknown = incompatibleFeatures & ~KNOWN_INCOMPATIBLE;
  if (unknown !== 0n) {
    const bits: string[] = [];
    for (let b = 0; b < 64; b++) {
      if ((unknown >> BigInt(b)) & 1n) {
        const named = featureNames.find((f) => f.type === "incompatible" && f.bit === b);
        bits.push(named ? `${b} (${named.name})` : String(b));
      }
    }
    fail("incompatible_features", `unknown incompatible features: bit(s) ${bits.join(", ")}`);
  }
  if (cryptMethod !== 0)
    fail(
      "crypt_method",
      `image is encrypted (${cryptMethod === 1 ? "AES" : cryptMethod === 2 ? "LUKS" : cryptMethod})`,
    );
  if (hasEncryptionHeader) fail("full disk encryption header", "image is encrypted (LUKS extension present)");
  if (incompatibleFeatures & Qcow2Incompatible.externalDataFile || dataFile !== null)
    fail("external data file", `guest data lives in an external file${dataFile ? ` (${dataFile})` : ""}`);
  const extendedL2 = (incompatibleFeatures & Qcow2Incompatible.extendedL2) !== 0n;
  if (extendedL2 && clusterBits < 14)
    fail("cluster_bits", `${clusterBits} is below 14, the minimum with extended L2 entries`);

  let backingFile: string | null = null;
  if (backingFileOffset !== 0) {
    if (backingFileSize > MAX_BACKING_NAME)
      fail("backing_file_size", `${backingFileSize} exceeds the ${MAX_BACKING_NAME}-byte limit`);
    if (backingFileOffset + backingFileSize > clusterSize)
      fail(
        "backing_file_offset",
        `backing file name at ${backingFileOffset} does not fit in the first cluster`,
      );
    if (first.length < backingFileOffset + backingFileSize)
      fail("backing_file_offset", `file is truncated before the backing file name at ${backingFileOffset}`);
    backingFile = first.subarray(backingFileOffset, backingFileOffset + backingFileSize).toString("utf8");
  }

  // The L1 table must cover the whole guest size, stay within qemu's limit and lie inside the file.
  const l2Entries = clusterSize / (extendedL2 ? 16 : 8);
  const minL1 = Math.ceil(size / (clusterSize * l2Entries));
  if (l1Size < minL1)
    fail("l1_size", `${l1Size} entries cannot map the virtual size ${size} (needs ${minL1})`);
  if (l1Size * 8 > MAX_L1_BYTES)
    fail("l1_size", `${l1Size} entries exceed qemu's ${MAX_L1_BYTES}-byte limit`);
  if (minL1 > 0) {
    if (l1TableOffset === 0 || l1TableOffset % clusterSize !== 0)
      fail(
        "l1_table_offset",
        `${l1TableOffset} is zero or not cluster aligned (cluster size ${clusterSize})`,
      );
    if (fileSize !== null && l1TableOffset + minL1 * 8 > fileSize)
      fail(
        "l1_table_offset",
        `L1 table at ${l1TableOffset} (${minL1} entries) runs past the end of the file (${fileSize} bytes)`,
      );
  }

  return {
    version,
    compat: version === 2 ? "0.10" : "1.1",
    backingFileOffset,
    backingFileSize,
    backingFile,
    backingFormat,
    clusterBits,
    clusterSize,
    size,
    cryptMethod,
    l1Size,
    l1TableOffset,
    refcountTableOffset,
    refcountTableClusters,
    nbSnapshots,
    snapshotsOffset,
    incompatibleFeatures,
    compatibleFeatures,
    autoclearFeatures,
    refcountOrder,
    headerLength,
    compressionType,
    dirty: (incompatibleFeatures & Qcow2Incompatible.dirty) !== 0n,
    corrupt: (incompatibleFeatures & Qcow2Incompatible.corrupt) !== 0n,
    extendedL2,
    lazyRefcounts: (compatibleFeatures & 1n) !== 0n,
    bitmaps,
    featureNames,
    extensions,
  };
}

/** Reads the first cluster of `src` (at most 2 MiB). */
export async function readFirstCluster(src: RandomAccessSource, name = "image"): Promise<Buffer> {
  const probe = await src.read(0, HEADER_PROBE);
  if (probe.length < 24) {
    if (probe.length >= 4 && probe.readUInt32BE(0) !== QCOW2_MAGIC)
      throw new Qcow2Error(name, "magic", "not a qcow2 image");
    throw new Qcow2Error(name, "header", `file is truncated (${probe.length} bytes)`);
  }
  const bits = probe.readUInt32BE(20);
  if (probe.readUInt32BE(0) !== QCOW2_MAGIC || bits < MIN_CLUSTER_BITS || bits > MAX_CLUSTER_BITS)
    return probe;
  return src.read(0, 2 ** bits);
}

/** Reads and validates the qcow2 header of `src`. Throws Qcow2Error naming `name` and the field at fault. */
export async function readQcow2Header(src: RandomAccessSource, name = "image"): Promise<Qcow2Header> {
  return parseQcow2Header(await readFirstCluster(src, name), name, src.size);
}

/** qcow2 if the source starts with the qcow2 magic, else raw (oVirt volumes are one or the other). */
export async function detectImageFormat(src: RandomAccessSource): Promise<"qcow2" | "raw"> {
  const magic = await src.read(0, 4);
  return magic.length === 4 && magic.readUInt32BE(0) === QCOW2_MAGIC ? "qcow2" : "raw";
}
