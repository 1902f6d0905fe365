import { type FileHandle, open } from "node:fs/promises";
import type { ImageChain } from "./image-chain";

const CHUNK = 4 * 1024 * 1024;
/** Zero detection granularity, qemu-img convert's default `-S 4k`. */
const SPARSE_BLOCK = 4096;
const ZEROES = Buffer.alloc(SPARSE_BLOCK);

export interface ConvertResult {
  virtualSize: number;
  /** Bytes actually written (the rest is left as holes). */
  writtenBytes: number;
}

/**
 * Writes the guest data of `chain` to `outPath` as a raw image: the file is sized with ftruncate and only
 * non-zero 4 KiB blocks are written, so zero ranges stay holes. Streams in 4 MiB reads.
 */
export async function convertChainToRaw(
  chain: ImageChain,
  outPath: string,
  onProgress?: (done: number, total: number) => void,
): Promise<ConvertResult> {
  const fh = await open(outPath, "w");
  let writtenBytes = 0;
  try {
    const total = chain.virtualSize;
    await fh.truncate(total);
    const chunk = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(total, 1)));
    for await (const ext of chain.extents()) {
      if (ext.zero) {
        onProgress?.(ext.start + ext.length, total);
        continue;
      }
      for (let pos = ext.start; pos < ext.start + ext.length; ) {
        const n = await chain.readGuestInto(chunk, pos, Math.min(chunk.length, ext.start + ext.length - pos));
        const buf = chunk.subarray(0, n);
        // Write runs of non-zero blocks; skip the zero ones.
        let runStart = -1;
        const writeRun = async (end: number) => {
          await writeAll(fh, buf.subarray(runStart, end), pos + runStart);
          writtenBytes += end - runStart;
          runStart = -1;
        };
        for (let b = 0; b < buf.length; b += SPARSE_BLOCK) {
          const blockEnd = Math.min(b + SPARSE_BLOCK, buf.length);
          if (ZEROES.compare(buf, b, blockEnd, 0, blockEnd - b) !== 0) {
            if (runStart < 0) runStart = b;
          } else if (runStart >= 0) await writeRun(b);
        }
        if (runStart >= 0) await writeRun(buf.length);
        pos += n;
        onProgress?.(pos, total);
      }
    }
    return { virtualSize: total, writtenBytes };
  } finally {
    await fh.close();
  }
}

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
