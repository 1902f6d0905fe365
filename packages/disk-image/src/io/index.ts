import { type FileHandle, open } from "node:fs/promises";

/**
 * Random access to the bytes of an image: a local file, a chunked repository object, an HTTP range reader.
 * `read` past the end returns fewer bytes (an empty buffer at or after `size`), never throws for that.
 */
export interface RandomAccessSource {
  readonly size: number;
  read(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** Thrown for sizes and offsets that JS numbers cannot represent exactly. */
export class SourceRangeError extends Error {
  override name = "SourceRangeError";
}

/** Checks a size or offset coming from the outside world (a stat, a header field, a Content-Length). */
export function checkSafeOffset(value: number | bigint, what: string): number {
  if (typeof value === "bigint") {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER))
      throw new SourceRangeError(
        `${what} ${value} is beyond ${Number.MAX_SAFE_INTEGER} bytes, not supported`,
      );
    return Number(value);
  }
  if (!Number.isSafeInteger(value) || value < 0)
    throw new SourceRangeError(`${what} ${value} is not a byte offset below ${Number.MAX_SAFE_INTEGER}`);
  return value;
}

function checkReadArgs(position: number, length: number, label: string): void {
  if (!Number.isSafeInteger(position) || position < 0)
    throw new SourceRangeError(`${label}: read position ${position} is not a safe byte offset`);
  if (!Number.isSafeInteger(length) || length < 0)
    throw new SourceRangeError(`${label}: read length ${length} is not a safe byte count`);
}

class FileSource implements RandomAccessSource {
  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly label: string,
  ) {}

  async read(position: number, length: number): Promise<Buffer> {
    checkReadArgs(position, length, this.label);
    const want = Math.max(0, Math.min(length, this.size - position));
    const buf = Buffer.allocUnsafe(want);
    let done = 0;
    while (done < want) {
      const { bytesRead } = await this.fh.read(buf, done, want - done, position + done);
      if (bytesRead === 0) break; // file shrank under us: report what is there
      done += bytesRead;
    }
    return done === want ? buf : buf.subarray(0, done);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Opens a local file (or block device) read-only as a RandomAccessSource. */
export async function openFileSource(path: string): Promise<RandomAccessSource> {
  const fh = await open(path, "r");
  try {
    const st = await fh.stat({ bigint: true });
    // stat reports 0 for block devices (oVirt block storage volumes are LVs): find the end by reading.
    const size = st.isBlockDevice() ? await blockDeviceSize(fh) : st.size;
    return new FileSource(fh, checkSafeOffset(size, `size of ${path}`), path);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

async function blockDeviceSize(fh: FileHandle): Promise<bigint> {
  // Binary search for the last readable byte: no ioctl from Node, and this needs ~40 one-byte reads.
  const probe = Buffer.alloc(1);
  if ((await fh.read(probe, 0, 1, 0)).bytesRead === 0) return 0n;
  let lo = 0n; // known readable
  let hi = 1n << 53n; // known not readable
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    const { bytesRead } = await fh.read(probe, 0, 1, Number(mid));
    if (bytesRead === 1) lo = mid;
    else hi = mid;
  }
  return lo + 1n;
}

/** A source over bytes already in memory (headers, small test data). */
export function bufferSource(data: Buffer): RandomAccessSource {
  return {
    size: data.length,
    async read(position, length) {
      checkReadArgs(position, length, "buffer");
      return data.subarray(Math.min(position, data.length), Math.min(position + length, data.length));
    },
    async close() {},
  };
}

/**
 * Reads `length` bytes at `position` into `target` at `at`, zero-filling what lies past the end of the source
 * (how qemu reads a short file).
 */
export async function readInto(
  src: RandomAccessSource,
  target: Buffer,
  at: number,
  position: number,
  length: number,
): Promise<void> {
  // Past the end of the file reads as zeroes (as qemu reads a qcow2 whose last cluster the file ends inside);
  // a range that starts there is not asked for at all.
  if (position >= src.size) {
    target.fill(0, at, at + length);
    return;
  }
  const got = await src.read(position, length);
  got.copy(target, at, 0, Math.min(got.length, length));
  if (got.length < length) target.fill(0, at + got.length, at + length);
}
