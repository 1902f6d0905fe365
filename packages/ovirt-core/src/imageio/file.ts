import { type FileHandle, open } from "node:fs/promises";
import type { ImageSegment } from "./types";
import { isAllZero, zeroRuns } from "./upload";

/** Smallest zero run left unwritten inside a data segment when `sparse` is on. */
const SPARSE_BLOCK = 64 * 1024;
/** Contiguous data is gathered into one writev of at most this many bytes / buffers. */
const BATCH_BYTES = 8 * 1024 * 1024;
const BATCH_BUFFERS = 512;

export interface FileSinkResult {
  /** Bytes written to the file. */
  written: number;
  /** Bytes left as holes (zero segments, and zero blocks of data segments when `sparse`). */
  skipped: number;
}

/**
 * Writes segments into a fresh file of `size` bytes: data at its offsets, zero segments left as holes. With
 * `sparse`, all-zero blocks inside data are not written either (the file backend reports no zero extents).
 * Contiguous data segments (a download yields the socket's chunks) are written with one writev per batch.
 */
export async function writeSegmentsToFile(
  segments: AsyncIterable<ImageSegment>,
  file: string,
  size: number,
  opts: { sparse?: boolean } = {},
): Promise<FileSinkResult> {
  const fh = await open(file, "w");
  const batch = new WriteBatch(fh);
  let skipped = 0;
  try {
    await fh.truncate(size);
    for await (const seg of segments) {
      if (seg.zero) {
        skipped += seg.length;
        continue;
      }
      if (!opts.sparse) {
        await batch.add(seg.offset, seg.data);
        continue;
      }
      if (seg.data.length < 2 * SPARSE_BLOCK) {
        if (isAllZero(seg.data)) skipped += seg.data.length;
        else await batch.add(seg.offset, seg.data);
        continue;
      }
      for (const run of zeroRuns(seg.data, SPARSE_BLOCK)) {
        if (run.zero) skipped += run.end - run.start;
        else await batch.add(seg.offset + run.start, seg.data.subarray(run.start, run.end));
      }
    }
    await batch.flush();
  } finally {
    await fh.close();
  }
  return { written: batch.written, skipped };
}

class WriteBatch {
  written = 0;
  private offset = 0;
  private length = 0;
  private buffers: Buffer[] = [];

  constructor(private readonly fh: FileHandle) {}

  async add(offset: number, data: Buffer): Promise<void> {
    if (this.buffers.length > 0 && offset !== this.offset + this.length) await this.flush();
    if (this.buffers.length === 0) this.offset = offset;
    this.buffers.push(data);
    this.length += data.length;
    if (this.length >= BATCH_BYTES || this.buffers.length >= BATCH_BUFFERS) await this.flush();
  }

  async flush(): Promise<void> {
    let buffers = this.buffers;
    let position = this.offset;
    let left = this.length;
    this.buffers = [];
    this.length = 0;
    while (left > 0) {
      const { bytesWritten } = await this.fh.writev(buffers, position);
      this.written += bytesWritten;
      left -= bytesWritten;
      position += bytesWritten;
      if (left > 0) buffers = dropBytes(buffers, bytesWritten);
    }
  }
}

/** The buffers after the first `n` bytes (a short writev). */
function dropBytes(buffers: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}
