/**
 * qcow2 fixtures made by the real qemu-img / qemu-io (Debian qemu-utils) in temp folders at test time, and the
 * raw images tests build them from. Layer file names are bare UUIDs and backing names are the parent's bare
 * UUID, as on oVirt storage.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash, randomBytes, randomFillSync, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export async function tempDir(
  prefix = "lifeboat-qcow2-",
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function qemuImg(args: string[], cwd?: string): Promise<string> {
  return (await run("qemu-img", args, { cwd, maxBuffer: 64 * 1024 * 1024 })).stdout;
}

/** Runs qemu-io commands (`write -P 0x11 0 64k`, `write -z 1M 64k`, `write -c ...`) against a qcow2 file. */
export async function qemuIo(file: string, commands: string[]): Promise<void> {
  await run("qemu-io", ["-f", "qcow2", ...commands.flatMap((c) => ["-c", c]), file]);
}

export type QemuInfo = Record<string, unknown> & { "format-specific"?: { data: Record<string, unknown> } };

export async function qemuInfoJson(file: string, cwd?: string): Promise<QemuInfo> {
  return JSON.parse(await qemuImg(["info", "--output=json", file], cwd)) as QemuInfo;
}

export interface QemuMapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
}

/** `qemu-img map` of the whole chain, or of one layer alone (`layerOnly`: backing cut off). */
export async function qemuMap(file: string, layerOnly = false): Promise<QemuMapEntry[]> {
  const target = layerOnly
    ? `json:${JSON.stringify({ driver: "qcow2", backing: null, file: { driver: "file", filename: file } })}`
    : file;
  return JSON.parse(await qemuImg(["map", "--output=json", target])) as QemuMapEntry[];
}

export async function qemuConvertRaw(file: string, out: string): Promise<void> {
  await qemuImg(["convert", "-O", "raw", file, out]);
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

let zstd: boolean | undefined;
/** Whether this qemu-img can write zstd-compressed qcow2 (qemu ≥ 5.1 built with zstd). */
export function qemuSupportsZstd(): boolean {
  if (zstd === undefined) {
    try {
      const out = execFileSync("qemu-img", ["create", "-f", "qcow2", "-o", "help"], { encoding: "utf8" });
      zstd = /compression_type/.test(out) && /zstd/.test(out);
    } catch {
      zstd = false;
    }
  }
  return zstd;
}

export interface LayerSpec {
  /** qemu-io commands run on this layer after creating it. */
  io?: string[];
  /** Virtual size of this layer (default: the chain's). */
  size?: string;
}

export interface ChainSpec {
  size: string;
  clusterSize?: number;
  compat?: "0.10" | "1.1";
  /** Base layer as a raw file of this many bytes, filled by `rawFill` (default: qcow2 base). */
  rawBase?: { bytes: number; fill?: (buf: Buffer) => void };
  extendedL2?: boolean;
  layers: LayerSpec[];
}

export interface BuiltChain {
  dir: string;
  /** Layer file names (bare UUIDs), base → top. */
  names: string[];
  paths: string[];
  top: string;
}

/** Creates a chain in `dir`, base → top, each qcow2 layer naming its parent's bare UUID as backing file. */
export async function buildChain(dir: string, spec: ChainSpec): Promise<BuiltChain> {
  const names: string[] = [];
  const opts = [
    `cluster_size=${spec.clusterSize ?? 65536}`,
    `compat=${spec.compat ?? "1.1"}`,
    ...(spec.extendedL2 ? ["extended_l2=on"] : []),
  ].join(",");
  if (spec.rawBase) {
    const name = randomUUID();
    const buf = Buffer.alloc(spec.rawBase.bytes);
    spec.rawBase.fill?.(buf);
    await writeFile(path.join(dir, name), buf);
    names.push(name);
  }
  for (const layer of spec.layers) {
    const name = randomUUID();
    const parent = names[names.length - 1];
    const parentFormat = parent && spec.rawBase && names.length === 1 ? "raw" : "qcow2";
    const args = ["create", "-f", "qcow2", "-o", opts];
    if (parent) args.push("-b", parent, "-F", parentFormat);
    args.push(name, layer.size ?? spec.size);
    await qemuImg(args, dir);
    if (layer.io?.length) await qemuIo(path.join(dir, name), layer.io);
    names.push(name);
  }
  const paths = names.map((n) => path.join(dir, n));
  return { dir, names, paths, top: paths[paths.length - 1]! };
}

/** A raw file mixing compressible patterns, random (incompressible) runs and zero runs. */
export async function writeMixedRaw(file: string, bytes: number, seed = 1): Promise<void> {
  const buf = Buffer.alloc(bytes);
  const block = 32 * 1024;
  for (let off = 0, i = seed; off < bytes; off += block, i++) {
    const n = Math.min(block, bytes - off);
    if (i % 5 === 0) continue; // zero run
    if (i % 5 === 1) randomBytes(n).copy(buf, off);
    else buf.fill((i * 37) & 0xff, off, off + n);
    buf.write(`block ${i} at ${off}`, off);
  }
  await writeFile(file, buf);
}

/**
 * Writes a sparse raw image: holes everywhere except the given regions, filled with random bytes (or with
 * `fill`: 0 for allocated zero blocks, 0xa5 garbage a zeroing client must overwrite).
 */
export async function makeSparseImage(
  file: string,
  size: number,
  regions: Array<{ offset: number; length: number; fill?: number }>,
): Promise<void> {
  const fh = await open(file, "w");
  try {
    await fh.truncate(size);
    for (const r of regions) {
      const chunk = 1024 * 1024;
      for (let pos = 0; pos < r.length; pos += chunk) {
        const buf = Buffer.allocUnsafe(Math.min(chunk, r.length - pos));
        if (r.fill === undefined) randomFillSync(buf);
        else buf.fill(r.fill);
        await fh.write(buf, 0, buf.length, r.offset + pos);
      }
    }
  } finally {
    await fh.close();
  }
}

/** A file of `size` bytes holding garbage everywhere (to prove zeroing really zeroes). */
export async function makeGarbageFile(file: string, size: number): Promise<void> {
  await makeSparseImage(file, size, [{ offset: 0, length: size, fill: 0xa5 }]);
}

export async function makeEmptyFile(file: string, size: number): Promise<void> {
  await makeSparseImage(file, size, []);
}

export async function sameBytes(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  return x.equals(y);
}

/**
 * A qcow2 copy of a raw image with 4 KiB clusters, so that an NBD view reports the raw image's data and zero
 * extents exactly (as qemu-nbd reports a raw file's data and holes); `allocatedZero` ranges (zeroes written
 * into the raw file) are written again as allocated zero data, as they are in the raw file.
 */
export async function qcow2Of(
  raw: string,
  out: string,
  allocatedZero: Array<{ offset: number; length: number }> = [],
): Promise<string> {
  await qemuImg(["convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", raw, out]);
  if (allocatedZero.length > 0)
    await qemuIo(
      out,
      allocatedZero.map((z) => `write -P 0 ${z.offset} ${z.length}`),
    );
  return out;
}
