import { promisify } from "node:util";
import { constants, inflateRaw } from "node:zlib";
import { decompress as zstdDecompress } from "fzstd";

const inflateRawAsync = promisify(inflateRaw);

/**
 * Length of the single zstd frame at the start of `buf`. A compressed qcow2 cluster is read with sector
 * granularity, so the bytes after its frame belong to the next cluster and zstd decoders reject them.
 */
export function zstdFrameLength(buf: Uint8Array): number {
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
  for (;;) {
    need(3);
    const h = (buf[p] ?? 0) | ((buf[p + 1] ?? 0) << 8) | ((buf[p + 2] ?? 0) << 16);
    p += 3;
    const type = (h >> 1) & 3;
    if (type === 3) throw new Error("zstd block type is reserved");
    const size = type === 1 ? 1 : h >>> 3; // RLE blocks store one byte
    need(size);
    p += size;
    if (h & 1) break;
  }
  p += checksum ? 4 : 0;
  need(0);
  return p;
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
    const frame = data.subarray(0, zstdFrameLength(data));
    const target = new Uint8Array(clusterSize);
    const got = zstdDecompress(frame, target);
    out = Buffer.from(got.buffer, got.byteOffset, got.byteLength);
  }
  if (out.length !== clusterSize)
    throw new Error(`decompressed to ${out.length} bytes instead of one ${clusterSize}-byte cluster`);
  return out;
}
