import { createRequire } from "node:module";
import { promisify } from "node:util";
import { constants, inflateRaw } from "node:zlib";
import { decompress as zstdDecompressPureJs } from "fzstd";

const inflateRawAsync = promisify(inflateRaw);

interface ZstdBinding {
  decompress(data: Buffer): Promise<Buffer>;
}

/** zstd's largest block regenerates 128 KiB (format spec §3.1.1.2.3). */
const ZSTD_MAX_BLOCK = 128 * 1024;

let nativeZstd: Promise<ZstdBinding | null> | undefined;
/**
 * The native zstd binding the repository uses too (it decompresses on libuv's threads, ~20× the pure-JS decoder),
 * loaded once and probed; null where it cannot load, and the pure-JS decoder reads the cluster instead.
 */
function zstdBinding(): Promise<ZstdBinding | null> {
  nativeZstd ??= (async () => {
    try {
      const binding = createRequire(import.meta.url)("@mongodb-js/zstd") as ZstdBinding & {
        compress(data: Buffer, level: number): Promise<Buffer>;
      };
      const probe = Buffer.from("lifeboat qcow2 zstd probe ".repeat(8));
      return (await binding.decompress(await binding.compress(probe, 3))).equals(probe) ? binding : null;
    } catch {
      return null;
    }
  })();
  return nativeZstd;
}

/**
 * Length of the single zstd frame at the start of `buf`, and an upper bound of what it regenerates (read from
 * its block headers, before decompressing: a hostile frame cannot make us allocate more). A compressed qcow2
 * cluster is read with sector granularity, so the bytes after its frame belong to the next cluster and zstd
 * decoders reject them.
 */
export function zstdFrame(buf: Uint8Array): { length: number; bound: number } {
  const need = (n: number) => {
    if (p + n > buf.length) throw new Error("zstd frame is truncated");
  };
  let p = 0;
  need(5);
  if (buf[0] !== 0x28 || buf[1] !== 0xb5 || buf[2] !== 0x2f || buf[3] !== 0xfd)
    throw new Error("no zstd frame magic");
  p = 4;
  const fhd = buf[p++] ?? 0;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  if (fhd & 0x08) throw new Error("zstd frame header reserved bit is set");
  p += singleSegment ? 0 : 1;
  p += [0, 1, 2, 4][fhd & 3] ?? 0;
  p += [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag] ?? 0;
  let bound = 0;
  for (;;) {
    need(3);
    const h = (buf[p] ?? 0) | ((buf[p + 1] ?? 0) << 8) | ((buf[p + 2] ?? 0) << 16);
    p += 3;
    const type = (h >> 1) & 3;
    if (type === 3) throw new Error("zstd block type is reserved");
    const size = type === 1 ? 1 : h >>> 3; // RLE blocks store one byte
    bound += type === 2 ? ZSTD_MAX_BLOCK : h >>> 3; // raw and RLE blocks regenerate their stated size
    need(size);
    p += size;
    if (h & 1) break;
  }
  p += checksum ? 4 : 0;
  need(0);
  return { length: p, bound };
}

/** Decompresses one compressed qcow2 cluster: exactly `clusterSize` bytes of output or an Error. */
export async function decompressCluster(
  data: Buffer,
  type: "deflate" | "zstd",
  clusterSize: number,
): Promise<Buffer> {
  let out: Buffer;
  if (type === "deflate") {
    // Raw deflate; trailing bytes (the next cluster's) are ignored after the stream end. Sync flush keeps a
    // stream cut short by the end of the file from throwing before we check the length ourselves.
    out = await inflateRawAsync(data, { maxOutputLength: clusterSize, finishFlush: constants.Z_SYNC_FLUSH });
  } else {
    const { length, bound } = zstdFrame(data);
    // More blocks than one cluster needs is not a cluster qemu wrote; refusing keeps a bomb from being inflated.
    if (bound > clusterSize + ZSTD_MAX_BLOCK)
      throw new Error(
        `its zstd frame may regenerate ${bound} bytes, more than one ${clusterSize}-byte cluster`,
      );
    const frame = data.subarray(0, length);
    const binding = await zstdBinding();
    if (binding) out = await binding.decompress(frame);
    else {
      const got = zstdDecompressPureJs(frame, new Uint8Array(clusterSize));
      out = Buffer.from(got.buffer, got.byteOffset, got.byteLength);
    }
  }
  if (out.length !== clusterSize)
    throw new Error(`decompressed to ${out.length} bytes instead of one ${clusterSize}-byte cluster`);
  return out;
}
