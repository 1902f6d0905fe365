import type { ImageioExtent } from "@lifeboat/ovirt-protocol";
import { AbortedError } from "../wait";
import {
  ConnectionPool,
  type ConnectionSettings,
  errorFromResponse,
  type ImageioConnection,
} from "./connection";
import { ImageioError } from "./errors";
import {
  DEFAULT_BUFFER_SIZE,
  DEFAULT_WORKERS,
  type ImageioOptions,
  type ImageioServerOptions,
  type ImageSegment,
} from "./types";

export interface DownloadOptions extends Omit<ImageioOptions, "caPem" | "insecure"> {
  /**
   * Which extents drive the read: `zero` (default) reads every data extent; `dirty` (an incremental backup's
   * ticket) reads only what changed since the checkpoint — unchanged areas yield nothing, changed zero areas
   * yield zero runs.
   */
  context?: "zero" | "dirty";
  /** Ranges to copy instead of asking the ticket; extents with `dirty: false` are skipped as unchanged. */
  extents?: ImageioExtent[];
}

export interface DownloadContext {
  url: URL;
  settings: ConnectionSettings;
  options: ImageioServerOptions;
  extents: () => Promise<ImageioExtent[]>;
  size: () => Promise<number>;
}

interface Piece {
  offset: number;
  length: number;
  zero: boolean;
  hole: boolean;
}

/**
 * Splits data extents into requests of at most `bufferSize`; zero extents stay whole (nothing is read); extents
 * not dirty since the checkpoint are left out.
 */
function* pieces(extents: ImageioExtent[], bufferSize: number): Generator<Piece> {
  for (const e of extents) {
    if (e.dirty === false) continue;
    if (e.zero) {
      yield { offset: e.start, length: e.length, zero: true, hole: e.hole };
      continue;
    }
    for (let off = e.start; off < e.start + e.length; off += bufferSize)
      yield { offset: off, length: Math.min(bufferSize, e.start + e.length - off), zero: false, hole: false };
  }
}

/**
 * The download engine: ranged GETs for data pieces spread over `workers` connections (FIFO, so pieces are
 * fetched roughly in order), emitted strictly in offset order through a bounded window of pieces in flight.
 */
export async function* downloadSegments(
  ctx: DownloadContext,
  opts: DownloadOptions,
): AsyncGenerator<ImageSegment, void, undefined> {
  const bufferSize = opts.bufferSize ?? DEFAULT_BUFFER_SIZE;
  if (!Number.isSafeInteger(bufferSize) || bufferSize < 4096) throw new Error("bufferSize must be ≥ 4096");
  const workers = Math.max(
    1,
    Math.min(opts.workers ?? DEFAULT_WORKERS, ctx.options.legacy ? 1 : ctx.options.maxReaders),
  );
  // Pieces fetched or waiting for the consumer: each worker busy plus two ready, so memory stays near
  // (workers + 2) × bufferSize however slow the consumer is.
  const window = workers + 2;
  const extents = opts.extents ?? (await ctx.extents());
  const last = extents[extents.length - 1];
  const total = last ? last.start + last.length : 0;
  const failed = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, failed.signal]) : failed.signal;
  const pool = new ConnectionPool(ctx.settings, workers);
  const retry = { retries: opts.retries ?? 3, delayMs: opts.retryDelayMs ?? 200, logger: opts.logger };
  const path = ctx.url.pathname;
  const started = performance.now();
  let done = 0;
  let dataBytes = 0;
  let completed = false;
  let firstError: unknown;

  const fetchPiece = (p: Piece): Promise<Buffer[]> => {
    const promise = pool.run((c) => getRange(c, path, p.offset, p.length, signal), signal, retry);
    // A failure is awaited in order later; until then it must not count as unhandled.
    promise.catch((e) => {
      // The first real failure is what the caller hears about, not the aborts it causes in other pieces.
      if (!signal.aborted) firstError ??= e;
      failed.abort(e);
    });
    return promise;
  };

  const queue: Array<{ piece: Piece; data?: Promise<Buffer[]> }> = [];
  const plan = pieces(extents, bufferSize);
  let inFlight = 0;
  let planDone = false;
  try {
    for (;;) {
      while (!planDone && inFlight < window) {
        const next = plan.next();
        if (next.done) {
          planDone = true;
          break;
        }
        const piece = next.value;
        if (piece.zero) queue.push({ piece });
        else {
          queue.push({ piece, data: fetchPiece(piece) });
          inFlight++;
        }
      }
      const head = queue.shift();
      if (!head) break;
      const { piece } = head;
      if (head.data) {
        const chunks = await head.data;
        inFlight--;
        dataBytes += piece.length;
        done += piece.length;
        report();
        // The body's chunks as they came off the socket: no copy into a piece buffer (fresh multi-MiB buffers
        // cost page faults and GC that dominated the client's CPU).
        let offset = piece.offset;
        for (const data of chunks) {
          yield { offset, data };
          offset += data.length;
        }
      } else {
        done += piece.length;
        report();
        yield { offset: piece.offset, length: piece.length, zero: true, hole: piece.hole };
      }
    }
    completed = true;
  } catch (e) {
    if (opts.signal?.aborted) throw new AbortedError(opts.signal.reason);
    throw firstError ?? e;
  } finally {
    if (!completed) failed.abort();
    // Every data connection is closed before the caller goes on (finalize must not race them, ref §8.1).
    await pool.close(!completed);
  }

  function report() {
    if (!opts.onProgress) return;
    const seconds = (performance.now() - started) / 1000;
    opts.onProgress({ done, total, dataBytes, rate: seconds > 0 ? done / seconds : 0 });
  }
}

/** One ranged GET of exactly `length` bytes, as the body's chunks; a short, long or wrong answer is an error. */
async function getRange(
  c: ImageioConnection,
  path: string,
  offset: number,
  length: number,
  signal: AbortSignal,
): Promise<Buffer[]> {
  const range = `bytes ${offset}-${offset + length - 1}`;
  const res = await c.request({
    path,
    method: "GET",
    headers: { range: `bytes=${offset}-${offset + length - 1}` },
    signal,
  });
  if (res.statusCode === 200) {
    res.body.destroy();
    await c.renew();
    throw new ImageioError({
      status: 200,
      message: `GET ${range}: the server ignored the Range header (200)`,
    });
  }
  if (res.statusCode !== 206) throw await errorFromResponse(res, `GET ${range}`);
  const declared = res.headers["content-length"];
  if (declared !== undefined && Number(declared) !== length) {
    res.body.destroy();
    await c.renew();
    throw new ImageioError({
      status: res.statusCode,
      message: `GET ${range}: Content-Length ${declared} does not match the ${length} bytes asked for`,
    });
  }
  // 'data' events rather than async iteration: one promise per range instead of one per socket chunk.
  const body = res.body;
  const chunks: Buffer[] = [];
  let pos = 0;
  await new Promise<void>((resolve, reject) => {
    body.on("data", (b: Buffer) => {
      chunks.push(b);
      pos += b.length;
      if (pos > length) {
        body.destroy();
        reject(new ImageioError({ status: 206, message: `GET ${range}: server sent more bytes than asked` }));
      }
    });
    body.once("end", resolve);
    body.once("error", reject);
  });
  if (pos !== length)
    throw new ImageioError({
      status: res.statusCode,
      message: `GET ${range}: body ended after ${pos} of ${length} bytes`,
      retryable: true,
    });
  return chunks;
}
