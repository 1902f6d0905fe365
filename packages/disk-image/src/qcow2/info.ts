import type { RandomAccessSource } from "../io";
import { Qcow2Error } from "./errors";
import { detectImageFormat, parseQcow2Header, type Qcow2Header, readFirstCluster } from "./header";

/** The part of `qemu-img info --output=json` we reproduce, keyed (and ordered) as qemu-img names them. */
export interface QemuImgInfoJson {
  "backing-filename-format"?: string;
  "virtual-size": number;
  filename: string;
  "cluster-size"?: number;
  format: "qcow2" | "raw";
  "actual-size"?: number;
  "format-specific"?: {
    type: "qcow2";
    data: {
      compat: "0.10" | "1.1";
      "compression-type": "zlib" | "zstd";
      "lazy-refcounts"?: boolean;
      bitmaps?: Array<{ flags: Array<"in-use" | "auto">; name: string; granularity: number }>;
      "refcount-bits": number;
      corrupt?: boolean;
      "extended-l2"?: boolean;
    };
  };
  "full-backing-filename"?: string;
  "backing-filename"?: string;
  "dirty-flag": boolean;
}

/** qemu's limits: at most 65535 bitmaps, a directory of at most 64 MiB. */
const MAX_BITMAPS = 65535;
const MAX_BITMAP_DIRECTORY = 64 * 1024 * 1024;

/** Names, flags and granularity of the persistent dirty bitmaps, as qemu-img info lists them. */
async function readBitmapDirectory(src: RandomAccessSource, h: Qcow2Header, name: string) {
  const { count, directorySize, directoryOffset } = h.bitmaps!;
  const fail = (detail: string): never => {
    throw new Qcow2Error(name, "bitmap directory", detail);
  };
  if (count > MAX_BITMAPS) fail(`${count} bitmaps exceed ${MAX_BITMAPS}`);
  if (directorySize > MAX_BITMAP_DIRECTORY) fail(`size ${directorySize} exceeds ${MAX_BITMAP_DIRECTORY}`);
  if (directoryOffset + directorySize > src.size) fail(`at ${directoryOffset} runs past the end of the file`);
  const dir = await src.read(directoryOffset, directorySize);
  if (dir.length < directorySize) fail("file is truncated inside the bitmap directory");
  const out: NonNullable<NonNullable<QemuImgInfoJson["format-specific"]>["data"]["bitmaps"]> = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 24 > dir.length) fail(`entry ${i} lies outside the directory`);
    const flags = dir.readUInt32BE(at + 12);
    const granularityBits = dir.readUInt8(at + 17);
    const nameSize = dir.readUInt16BE(at + 18);
    const extra = dir.readUInt32BE(at + 20);
    const nameAt = at + 24 + extra;
    if (nameAt + nameSize > dir.length) fail(`entry ${i} lies outside the directory`);
    out.push({
      flags: [...(flags & 1 ? ["in-use" as const] : []), ...(flags & 2 ? ["auto" as const] : [])],
      name: dir.subarray(nameAt, nameAt + nameSize).toString("utf8"),
      granularity: 2 ** granularityBits,
    });
    at = Math.ceil((nameAt + nameSize) / 8) * 8;
  }
  return out;
}

/**
 * qemu's path_combine: a relative backing name is taken relative to the folder part of the image name as
 * given (no normalisation: `dir/../base`), an absolute one is kept.
 */
export function fullBackingFilename(filename: string, backing: string, dir?: string): string {
  if (backing.startsWith("/")) return backing;
  const prefix =
    dir !== undefined
      ? dir === "" || dir.endsWith("/")
        ? dir
        : `${dir}/`
      : filename.slice(0, filename.lastIndexOf("/") + 1);
  return prefix + backing;
}

/**
 * `qemu-img info` for a raw or qcow2 source without running qemu. `filename` is reported as given; `dir`
 * overrides the folder used for full-backing-filename; `actualSize` is the host allocation when known.
 */
export async function qemuInfo(
  src: RandomAccessSource,
  opts: { filename: string; dir?: string; actualSize?: number },
): Promise<QemuImgInfoJson> {
  const withSize = <T extends object>(o: T) =>
    opts.actualSize === undefined ? o : { ...o, "actual-size": opts.actualSize };
  if ((await detectImageFormat(src)) === "raw") {
    return {
      "virtual-size": src.size,
      filename: opts.filename,
      format: "raw",
      ...withSize({}),
      "dirty-flag": false,
    };
  }
  const h = parseQcow2Header(await readFirstCluster(src, opts.filename), opts.filename, src.size);
  const data: NonNullable<QemuImgInfoJson["format-specific"]>["data"] =
    h.version === 2
      ? { compat: h.compat, "compression-type": "zlib", "refcount-bits": 2 ** h.refcountOrder }
      : {
          compat: h.compat,
          "compression-type": h.compressionType === "zstd" ? "zstd" : "zlib",
          "lazy-refcounts": h.lazyRefcounts,
          ...(h.bitmaps && h.bitmaps.count > 0
            ? { bitmaps: await readBitmapDirectory(src, h, opts.filename) }
            : {}),
          "refcount-bits": 2 ** h.refcountOrder,
          corrupt: h.corrupt,
          "extended-l2": h.extendedL2,
        };
  const info: QemuImgInfoJson = {
    ...(h.backingFile !== null && h.backingFormat !== null
      ? { "backing-filename-format": h.backingFormat }
      : {}),
    "virtual-size": h.size,
    filename: opts.filename,
    "cluster-size": h.clusterSize,
    format: "qcow2",
    ...withSize({}),
    "format-specific": { type: "qcow2", data },
    ...(h.backingFile !== null
      ? {
          "full-backing-filename": fullBackingFilename(opts.filename, h.backingFile, opts.dir),
          "backing-filename": h.backingFile,
        }
      : {}),
    "dirty-flag": h.dirty,
  };
  return info;
}

/**
 * Returns a copy of a qcow2 image's first cluster naming `newName` as backing file, for restores that upload
 * a layer under a new parent volume UUID. Fits in place (same or shorter length, or longer into zeroed space
 * of the first cluster); throws a Qcow2Error otherwise.
 */
export function rewriteBackingFile(header: Buffer, newName: string, name = "image"): Buffer {
  const h = parseQcow2Header(header, name, null);
  if (h.backingFile === null)
    throw new Qcow2Error(name, "backing_file_offset", "image has no backing file to rewrite (it is a base)");
  const bytes = Buffer.from(newName, "utf8");
  if (bytes.length === 0) throw new Qcow2Error(name, "backing file", "new backing file name is empty");
  if (bytes.length > 1023)
    throw new Qcow2Error(
      name,
      "backing_file_size",
      `new backing file name is ${bytes.length} bytes, over 1023`,
    );
  const start = h.backingFileOffset;
  const oldEnd = start + h.backingFileSize;
  const newEnd = start + bytes.length;
  if (newEnd > oldEnd) {
    // Growing is only safe into bytes that are zero and still inside the header cluster (qemu keeps nothing
    // else in the first cluster after the backing name).
    const limit = Math.min(h.clusterSize, header.length);
    if (newEnd > limit || header.subarray(oldEnd, newEnd).some((b) => b !== 0))
      throw new Qcow2Error(
        name,
        "backing_file_size",
        `new backing file name (${bytes.length} bytes) does not fit where the old one (${h.backingFileSize} bytes) is`,
      );
  }
  const out = Buffer.from(header);
  out.fill(0, start, Math.max(oldEnd, newEnd));
  bytes.copy(out, start);
  out.writeUInt32BE(bytes.length, 16);
  return out;
}
