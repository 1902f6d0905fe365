import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { AbortedError, throwIfAborted } from "../wait";
import {
  ConnectionPool,
  type ConnectionSettings,
  errorFromResponse,
  type ImageioConnection,
  withRetries,
} from "./connection";
import {
  type DataSegment,
  DEFAULT_BUFFER_SIZE,
  DEFAULT_WORKERS,
  type ImageioOptions,
  type ImageioServerOptions,
  type ImageSegment,
} from "./types";

export interface UploadOptions extends Omit<ImageioOptions, "caPem" | "insecure"> {
  /** Bytes the source covers, for progress; a file's size is used when the source is a path. */
  total?: number;
  /** When reading a file: zero runs shorter than this inside a buffer are sent as data. Default 1 MiB. */
  minZeroRun?: number;
  /**
   * Zero segments marked `hole` (unallocated in a shallow layer) are left untouched by default, so a backing chain
   * on the server shows through (ref §5.12); set this to zero them like other zero runs.
   */
  zeroHoles?: boolean;
}

export interface UploadResult {
  /** Bytes of the image handled (data + zeroed + holes left alone). */
  bytes: number;
  dataBytes: number;
  zeroBytes: number;
  /** Hole segments left untouched. */
  holeBytes: number;
  seconds: number;
  /** Data connections used. */
  connections: number;
}

export interface UploadContext {
  url: URL;
  settings: ConnectionSettings;
  options: ImageioServerOptions;
}

/** Largest PATCH zero, as the upstream client splits requests (ref §5.12). */
const ZERO_PIECE = 128 * 1024 * 1024;
/** Granularity of zero detection in files. */
const ZERO_BLOCK = 64 * 1024;
const ZEROES = Buffer.alloc(ZERO_BLOCK);

/**
 * A read buffer shared by the data segments cut from it. It goes back to the pool when the reader moved on and
 * every PUT carrying a piece of it has finished, so reading a big file does not churn through fresh buffers
 * (page faults, GC, RSS).
 */
class BufferLease {
  private refs = 1;
  constructor(
    readonly buf: Buffer,
    private readonly pool: Buffer[],
    private readonly max: number,
  ) {}
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0 && this.pool.length < this.max) this.pool.push(this.buf);
  }
}
const LEASE = Symbol("imageio.lease");
type LeasedSegment = DataSegment & { [LEASE]?: BufferLease };

/**
 * The upload engine: data as `PUT ?flush=n` with `Content-Range: bytes a-b/*`, zero runs as PATCH zero (or PUTs of
 * zeroes when the server cannot zero), at most `workers` requests in flight, then one PATCH flush per connection.
 */
export async function uploadSegments(
  ctx: UploadContext,
  source: string | AsyncIterable<ImageSegment>,
  opts: UploadOptions,
): Promise<UploadResult> {
  const bufferSize = opts.bufferSize ?? DEFAULT_BUFFER_SIZE;
  if (!Number.isSafeInteger(bufferSize) || bufferSize < 4096) throw new Error("bufferSize must be ≥ 4096");
  const features = new Set(ctx.options.features);
  const canZero = features.has("zero");
  const canFlush = features.has("flush");
  const workers = Math.max(
    1,
    Math.min(opts.workers ?? DEFAULT_WORKERS, ctx.options.legacy ? 1 : ctx.options.maxWriters),
  );
  const failed = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, failed.signal]) : failed.signal;
  const pool = new ConnectionPool(ctx.settings, workers);
  const retry = { retries: opts.retries ?? 3, delayMs: opts.retryDelayMs ?? 200, logger: opts.logger };
  const path = ctx.url.pathname;
  // Without the flush feature every PUT flushes (the server default), so the data is safe when it answers.
  const putPath = canFlush ? `${path}?flush=n` : path;
  const started = performance.now();
  let total = opts.total;
  let dataBytes = 0;
  let zeroBytes = 0;
  let holeBytes = 0;
  let firstError: unknown;
  let completed = false;
  const inflight = new Set<Promise<void>>();
  // Servers without the zero feature get PUTs of zeroes (ref §5.2), all from one shared buffer.
  let zeroBuffer: Buffer | undefined;
  const zeroes = () => {
    zeroBuffer ??= Buffer.alloc(bufferSize);
    return zeroBuffer;
  };

  const report = () => {
    if (!opts.onProgress) return;
    const seconds = (performance.now() - started) / 1000;
    const done = dataBytes + zeroBytes + holeBytes;
    opts.onProgress({ done, total, dataBytes, rate: seconds > 0 ? done / seconds : 0 });
  };

  const submit = async (
    op: (c: ImageioConnection) => Promise<void>,
    bytes: number,
    data: boolean,
    leases: BufferLease[] = [],
  ) => {
    while (inflight.size >= workers) await Promise.race(inflight);
    if (firstError) throw firstError;
    throwIfAborted(signal);
    const p: Promise<void> = pool
      .run(op, signal, retry)
      .finally(() => {
        for (const l of leases) l.release();
      })
      .then(
        () => {
          if (data) dataBytes += bytes;
          else zeroBytes += bytes;
          report();
        },
        (e) => {
          if (!signal.aborted) firstError ??= e;
          failed.abort(e);
        },
      )
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  let segments: AsyncIterable<ImageSegment>;
  if (typeof source === "string") {
    const file = await FileSegments.open(source, bufferSize, opts.minZeroRun ?? 1024 * 1024);
    total ??= file.size;
    segments = file.segments(signal, { recycle: workers + 2 });
  } else segments = source;

  // Contiguous small data segments (a download's socket chunks) are gathered into one PUT of up to bufferSize.
  let batch: Buffer[] = [];
  let batchLeases: BufferLease[] = [];
  let batchOffset = 0;
  let batchLength = 0;
  const flushBatch = async () => {
    if (batchLength === 0) return;
    const chunks = batch;
    const leases = batchLeases;
    const at = batchOffset;
    const length = batchLength;
    batch = [];
    batchLeases = [];
    batchLength = 0;
    await submit((c) => putRange(c, putPath, at, chunks, length, signal), length, true, leases);
  };

  try {
    for await (const seg of segments) {
      checkOffset(seg.offset);
      if (seg.zero) {
        checkOffset(seg.offset + seg.length);
        await flushBatch();
        if (seg.hole && !opts.zeroHoles) {
          holeBytes += seg.length;
          report();
          continue;
        }
        for (let off = seg.offset; off < seg.offset + seg.length; ) {
          const len = Math.min(canZero ? ZERO_PIECE : bufferSize, seg.offset + seg.length - off);
          const at = off;
          await submit(
            (c) =>
              canZero
                ? zeroRange(c, path, at, len, !canFlush, signal)
                : putRange(c, putPath, at, [zeroes().subarray(0, len)], len, signal),
            len,
            false,
          );
          off += len;
        }
        continue;
      }
      for (let pos = 0; pos < seg.data.length; ) {
        const at = seg.offset + pos;
        if (batchLength > 0 && at !== batchOffset + batchLength) await flushBatch();
        if (batchLength === 0) batchOffset = at;
        const take = Math.min(seg.data.length - pos, bufferSize - batchLength);
        batch.push(pos === 0 && take === seg.data.length ? seg.data : seg.data.subarray(pos, pos + take));
        const lease = (seg as LeasedSegment)[LEASE];
        if (lease) {
          lease.retain();
          batchLeases.push(lease);
        }
        batchLength += take;
        pos += take;
        if (batchLength >= bufferSize) await flushBatch();
      }
    }
    await flushBatch();
    while (inflight.size > 0) await Promise.race(inflight);
    if (firstError) throw firstError;
    if (canFlush) {
      // One flush per connection that wrote, on that connection (ref §5.12).
      await Promise.all(
        pool.connections
          .filter((c) => c.wrote)
          .map((c) =>
            withRetries(
              c,
              (conn) => patch(conn, path, { op: "flush" }, "PATCH flush", signal),
              signal,
              retry,
            ),
          ),
      );
    }
    completed = true;
  } catch (e) {
    failed.abort(e);
    await Promise.allSettled(inflight);
    if (opts.signal?.aborted) throw new AbortedError(opts.signal.reason);
    throw firstError ?? e;
  } finally {
    await pool.close(!completed);
  }
  return {
    bytes: dataBytes + zeroBytes + holeBytes,
    dataBytes,
    zeroBytes,
    holeBytes,
    seconds: (performance.now() - started) / 1000,
    connections: pool.connections.length,
  };
}

function checkOffset(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`invalid segment offset ${n}`);
}

/** One PUT of `length` bytes made of `chunks` (sent as they are, no copy) at `offset`. */
async function putRange(
  c: ImageioConnection,
  path: string,
  offset: number,
  chunks: Buffer[],
  length: number,
  signal: AbortSignal,
): Promise<void> {
  const range = `bytes ${offset}-${offset + length - 1}/*`;
  const res = await c.request({
    path,
    method: "PUT",
    headers: {
      "content-range": range,
      "content-type": "application/octet-stream",
      // imageio refuses chunked bodies: the length is always given.
      "content-length": String(length),
    },
    body: chunks.length === 1 ? chunks[0] : Readable.from(chunks, { objectMode: false }),
    signal,
  });
  if (res.statusCode !== 200 && res.statusCode !== 204) throw await errorFromResponse(res, `PUT ${range}`);
  await res.body.dump();
  c.wrote = true;
}

async function zeroRange(
  c: ImageioConnection,
  path: string,
  offset: number,
  size: number,
  flush: boolean,
  signal: AbortSignal,
): Promise<void> {
  await patch(c, path, { op: "zero", offset, size, flush }, `PATCH zero ${offset}+${size}`, signal);
  c.wrote = true;
}

async function patch(
  c: ImageioConnection,
  path: string,
  body: Record<string, unknown>,
  what: string,
  signal: AbortSignal,
): Promise<void> {
  const res = await c.request({
    path,
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  if (res.statusCode !== 200 && res.statusCode !== 204) throw await errorFromResponse(res, what);
  await res.body.dump();
}

/**
 * A file read as segments: zero runs (64 KiB granularity) become ZeroSegments, the rest data. Short zero runs
 * inside a buffer stay data, so a fragmented image does not turn into thousands of tiny requests. Every buffer is
 * fresh (segments may be kept as long as the consumer likes), except with `recycle`, which only the upload engine
 * uses: it returns buffers through their leases.
 */
export class FileSegments {
  private constructor(
    private readonly path: string,
    readonly size: number,
    private readonly bufferSize: number,
    private readonly minZeroRun: number,
  ) {}

  static async open(path: string, bufferSize: number, minZeroRun: number): Promise<FileSegments> {
    const fh = await open(path, "r");
    try {
      const st = await fh.stat();
      if (!st.isFile() && !st.isBlockDevice()) throw new Error(`${path} is not a file`);
      return new FileSegments(path, st.size, bufferSize, minZeroRun);
    } finally {
      await fh.close();
    }
  }

  async *segments(signal?: AbortSignal, opts: { recycle?: number } = {}): AsyncGenerator<ImageSegment> {
    const fh = await open(this.path, "r");
    const pool: Buffer[] = [];
    try {
      let pendingZero: { offset: number; length: number } | undefined;
      for (let off = 0; off < this.size; ) {
        throwIfAborted(signal);
        const len = Math.min(this.bufferSize, this.size - off);
        // Without recycling, only a buffer that held nothing but zeroes (handed to nobody) is read into again.
        const whole = pool.pop() ?? Buffer.allocUnsafe(this.bufferSize);
        const lease = new BufferLease(whole, pool, opts.recycle ?? 1);
        const buf = whole.subarray(0, len);
        let got = 0;
        while (got < len) {
          const { bytesRead } = await fh.read(buf, got, len - got, off + got);
          if (bytesRead === 0) throw new Error(`${this.path} shrank while being read (at ${off + got})`);
          got += bytesRead;
        }
        const runs = zeroRuns(buf, this.minZeroRun);
        let handedOut = false;
        for (const run of runs) {
          const at = off + run.start;
          if (run.zero) {
            if (pendingZero && pendingZero.offset + pendingZero.length === at)
              pendingZero.length += run.end - run.start;
            else pendingZero = { offset: at, length: run.end - run.start };
            continue;
          }
          if (pendingZero) {
            yield { offset: pendingZero.offset, length: pendingZero.length, zero: true };
            pendingZero = undefined;
          }
          const seg: LeasedSegment = { offset: at, data: buf.subarray(run.start, run.end) };
          if (opts.recycle) seg[LEASE] = lease;
          handedOut = true;
          yield seg;
        }
        // Recycled buffers come back through their leases; a plain reader only reuses an all-zero buffer.
        if (opts.recycle || !handedOut) lease.release();
        off += len;
      }
      if (pendingZero) yield { offset: pendingZero.offset, length: pendingZero.length, zero: true };
    } finally {
      await fh.close();
    }
  }
}

/** True when every byte is zero. */
export function isAllZero(buf: Buffer): boolean {
  for (let start = 0; start < buf.length; start += ZERO_BLOCK) {
    const end = Math.min(buf.length, start + ZERO_BLOCK);
    if (!buf.subarray(start, end).equals(ZEROES.subarray(0, end - start))) return false;
  }
  return true;
}

/** Splits a buffer into zero and data runs; interior zero runs shorter than `minZeroRun` are folded into data. */
export function zeroRuns(
  buf: Buffer,
  minZeroRun: number,
): Array<{ start: number; end: number; zero: boolean }> {
  const runs: Array<{ start: number; end: number; zero: boolean }> = [];
  for (let start = 0; start < buf.length; start += ZERO_BLOCK) {
    const end = Math.min(buf.length, start + ZERO_BLOCK);
    const zero = buf.subarray(start, end).equals(ZEROES.subarray(0, end - start));
    const last = runs[runs.length - 1];
    if (last && last.zero === zero) last.end = end;
    else runs.push({ start, end, zero });
  }
  // Fold short zero runs between data runs into one data run.
  const out: typeof runs = [];
  for (const [i, run] of runs.entries()) {
    const interior = i > 0 && i < runs.length - 1;
    const zero = run.zero && !(interior && run.end - run.start < minZeroRun);
    const last = out[out.length - 1];
    if (last && last.zero === zero) last.end = run.end;
    else out.push({ start: run.start, end: run.end, zero });
  }
  return out;
}
