import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { ChunkError, RepositoryError } from "./errors";
import { LayerHasher } from "./hasher";
import {
  entriesDigest,
  type LayerEntry,
  type LayerManifest,
  type LayerMeta,
  layerMetaSchema,
} from "./manifest";
import { KEYS, type ObjectStore, type WriterSession } from "./store";

/** A run of layer bytes; zero runs carry only their length (imageio reports them from its extents). */
export type LayerSegment = { offset: number; data: Buffer } | { offset: number; length: number; zero: true };

/** Ordered segments (what the imageio client yields), or plain bytes such as a Node Readable. */
export type LayerSource = AsyncIterable<LayerSegment | Uint8Array> | Readable;

export interface LayerWriteProgress {
  /** Layer bytes taken in and durable (holes count at once, chunks once stored or found). */
  bytes: number;
  /** Of those, bytes in non-zero chunks. */
  dataBytes: number;
  newChunks: number;
  reusedChunks: number;
  /** Bytes this write added to the repository. */
  addedBytes: number;
}

export interface WriteLayerOptions {
  signal?: AbortSignal;
  onProgress?: (p: LayerWriteProgress) => void;
  /** The backup's session; without one, the write opens its own for its duration. */
  session?: WriterSession;
  /** When known (Content-Length, the disk snapshot's actual size): a source ending elsewhere is an error. */
  expectedSize?: number;
  /**
   * The layer this one changes (the previous backup of the same disk): with `sparseSource`, bytes the
   * source does not cover are the base's. Chunks the source leaves alone are referenced from the base's
   * manifest (touched, so gc keeps them); a chunk the source covers in part is completed from the base's
   * chunk in the repository. Without a base, uncovered bytes are zeroes.
   */
  base?: string;
  /**
   * The source yields segments in offset order with gaps (the engine's dirty extents): a gap keeps the
   * base's bytes, a zero segment writes zeroes. Needs `expectedSize` (the disk's virtual size). Such a layer
   * records the digest of its entries list (`digestOf: "entries"`), not a hash of every byte: hashing the
   * unchanged bytes would mean reading the whole base back for each incremental.
   */
  sparseSource?: boolean;
}

export interface LayerWriteResult extends LayerWriteProgress {
  layerId: string;
  manifest: LayerManifest;
  holes: number;
}

/** Fixed-size buffers for chunks in flight: bounds memory and makes the source wait when all are busy. */
class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<(b: Buffer) => void> = [];
  private created = 0;

  constructor(
    private readonly size: number,
    private readonly max: number,
  ) {}

  acquire(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    if (this.created < this.max) {
      this.created++;
      // Shared memory: the hashing thread reads chunks in place.
      return Promise.resolve(Buffer.from(new SharedArrayBuffer(this.size)));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(b: Buffer): void {
    const w = this.waiting.shift();
    if (w) w(b);
    else this.free.push(b);
  }
}

interface Piece {
  index: number;
  length: number;
  /** Absent for a hole (a whole chunk of zero segments). */
  data?: Buffer;
  buffer?: Buffer;
  /** An unchanged chunk: the base layer's entry, taken over as it is. */
  reuse?: LayerEntry;
}

interface BaseLayer {
  manifest: LayerManifest;
  /** The plain bytes of the base's chunk `i` (zeroes for a hole), `length` bytes: zero-extended past its end. */
  chunk(i: number, length: number): Promise<Buffer>;
}

/**
 * Cuts a sparse source (segments in order, gaps allowed) into the chunks of a layer of `size` bytes. Gaps
 * keep the base's bytes: a chunk untouched by the source is the base's entry (a `reuse` piece, nothing read);
 * a chunk the source covers in part is read from the base once and overlaid.
 */
async function* overlayChunks(
  source: LayerSource,
  chunkSize: number,
  size: number,
  pool: BufferPool,
  base: BaseLayer | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<Piece> {
  const chunkLength = (i: number) => Math.min(chunkSize, size - i * chunkSize);
  let pos = 0;
  let cur: Buffer | undefined;
  let fill = 0;
  let baseBytes: { index: number; data: Buffer } | undefined;
  const index = () => Math.floor(pos / chunkSize);
  const fullIfDone = (): Piece | undefined => {
    const i = Math.floor((pos - fill) / chunkSize);
    const length = chunkLength(i);
    if (!cur || fill < length) return undefined;
    const piece = { index: i, length, data: cur.subarray(0, length), buffer: cur };
    cur = undefined;
    fill = 0;
    return piece;
  };
  /** Fills the current chunk from `pos` up to `to` (same chunk) with the base's bytes. */
  const fillFromBase = async (to: number) => {
    const i = index();
    if (!cur) cur = await pool.acquire();
    const length = chunkLength(i);
    if (baseBytes?.index !== i)
      baseBytes = { index: i, data: base ? await base.chunk(i, length) : Buffer.alloc(length) };
    const from = pos - i * chunkSize;
    baseBytes.data.copy(cur, from, from, to - i * chunkSize);
    fill += to - pos;
    pos = to;
  };
  /** Moves `pos` to `target` over bytes the source leaves unchanged. */
  async function* gapTo(target: number): AsyncGenerator<Piece> {
    while (pos < target) {
      const i = index();
      const start = i * chunkSize;
      const end = start + chunkLength(i);
      const e = base?.manifest.entries[i];
      if (!cur && pos === start && target >= end && (!base || e?.length === end - start)) {
        yield { index: i, length: end - start, reuse: e ?? { hole: true, length: end - start } };
        pos = end;
        continue;
      }
      await fillFromBase(Math.min(target, end));
      const piece = fullIfDone();
      if (piece) yield piece;
    }
  }
  for await (const item of source as AsyncIterable<LayerSegment | Uint8Array>) {
    signal?.throwIfAborted();
    if (isBytes(item) || typeof item !== "object" || item === null || typeof item.offset !== "number")
      throw new RepositoryError("a sparse layer source must yield segments with offsets");
    if (item.offset < pos)
      throw new RepositoryError(
        `layer source segment at offset ${item.offset} overlaps the previous one, which ended at ${pos}`,
      );
    const length = "zero" in item ? item.length : item.data?.length;
    if (!Number.isSafeInteger(length) || (length ?? -1) < 0 || item.offset + (length ?? 0) > size)
      throw new RepositoryError(
        `layer source segment at offset ${item.offset} (${length} bytes) is outside the layer's ${size} bytes`,
      );
    yield* gapTo(item.offset);
    if ("zero" in item) {
      let zeros = item.length;
      while (zeros > 0) {
        const i = index();
        const n = Math.min(zeros, i * chunkSize + chunkLength(i) - pos);
        if (!cur && n === chunkLength(i)) {
          // A whole chunk of zeroes: a hole, never materialised.
          yield { index: i, length: n };
        } else {
          if (!cur) cur = await pool.acquire();
          cur.fill(0, fill, fill + n);
          fill += n;
        }
        pos += n;
        zeros -= n;
        const piece = fullIfDone();
        if (piece) yield piece;
      }
      continue;
    }
    const data = item.data;
    let at = 0;
    while (at < data.length) {
      const i = index();
      if (!cur) cur = await pool.acquire();
      const n = Math.min(data.length - at, i * chunkSize + chunkLength(i) - pos);
      cur.set(data.subarray(at, at + n), fill);
      at += n;
      fill += n;
      pos += n;
      const piece = fullIfDone();
      if (piece) yield piece;
    }
  }
  yield* gapTo(size);
}

function isBytes(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array;
}

/** Cuts the source into chunk-sized pieces, checking that segments follow each other without gap or overlap. */
async function* cutChunks(
  source: LayerSource,
  chunkSize: number,
  pool: BufferPool,
  signal: AbortSignal | undefined,
): AsyncGenerator<Piece> {
  let pos = 0;
  let cur: Buffer | undefined;
  let fill = 0;
  const full = (): Piece => {
    const piece = { index: (pos - fill) / chunkSize, length: fill, data: cur, buffer: cur };
    cur = undefined;
    fill = 0;
    return piece;
  };
  for await (const item of source as AsyncIterable<LayerSegment | Uint8Array>) {
    signal?.throwIfAborted();
    let data: Uint8Array | undefined;
    let zeros = 0;
    if (isBytes(item)) data = item;
    else {
      if (typeof item !== "object" || item === null || typeof item.offset !== "number")
        throw new RepositoryError("layer source yielded something that is neither bytes nor a segment");
      if (item.offset !== pos)
        throw new RepositoryError(
          `layer source segment at offset ${item.offset} does not follow the previous one, which ended at ${pos}`,
        );
      if ("zero" in item) {
        if (!Number.isSafeInteger(item.length) || item.length < 0)
          throw new RepositoryError(`layer source zero segment at ${item.offset} has length ${item.length}`);
        zeros = item.length;
      } else if (isBytes(item.data)) data = item.data;
      else throw new RepositoryError(`layer source segment at ${item.offset} has no data`);
    }
    if (data) {
      let at = 0;
      while (at < data.length) {
        if (!cur) cur = await pool.acquire();
        const n = Math.min(data.length - at, chunkSize - fill);
        cur.set(data.subarray(at, at + n), fill);
        at += n;
        fill += n;
        pos += n;
        if (fill === chunkSize) yield full();
      }
    }
    while (zeros > 0) {
      if (!cur && zeros >= chunkSize) {
        // A whole chunk of zeroes: never materialised.
        pos += chunkSize;
        zeros -= chunkSize;
        yield { index: (pos - chunkSize) / chunkSize, length: chunkSize };
        continue;
      }
      if (!cur) cur = await pool.acquire();
      const n = Math.min(zeros, chunkSize - fill);
      cur.fill(0, fill, fill + n);
      fill += n;
      pos += n;
      zeros -= n;
      if (fill === chunkSize) yield full();
    }
  }
  if (cur && fill > 0) {
    const piece = full();
    yield { ...piece, data: piece.data?.subarray(0, piece.length) };
  }
}

/** Streams a layer into the repository; see Repository.writeLayer. */
export async function writeLayer(
  store: ObjectStore,
  source: LayerSource,
  metaInput: LayerMeta,
  options: WriteLayerOptions = {},
): Promise<LayerWriteResult> {
  const parsed = layerMetaSchema.safeParse(metaInput);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RepositoryError(`invalid layer metadata: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  const meta = parsed.data;
  const { signal, onProgress } = options;
  signal?.throwIfAborted();
  const chunkSize = store.config.chunkSize;
  const sparse = options.sparseSource === true;
  if (options.base !== undefined && !sparse)
    throw new RepositoryError("a layer written against a base needs a sparse source (sparseSource: true)");
  if (sparse && options.expectedSize === undefined)
    throw new RepositoryError("a sparse layer source needs the layer's size (expectedSize)");
  let base: BaseLayer | undefined;
  if (options.base !== undefined) {
    const manifest = await store.readLayerManifest(options.base);
    if (manifest.chunkSize !== chunkSize)
      throw new RepositoryError(
        `base layer ${manifest.id} has ${manifest.chunkSize}-byte chunks, this repository ${chunkSize}`,
      );
    base = {
      manifest,
      async chunk(i, length) {
        const out = Buffer.alloc(length);
        const e = manifest.entries[i];
        if (e && "id" in e)
          (await store.readChunk(e.id, e.length, manifest.id, i * chunkSize)).copy(out, 0, 0, length);
        return out;
      },
    };
  }
  const ownSession = options.session
    ? undefined
    : await store.openSession(`layer ${meta.imageId ?? ""}`.trim());
  try {
    const zero = Buffer.alloc(chunkSize);
    const pool = new BufferPool(chunkSize, store.concurrency + 1);
    const hasher = new LayerHasher(store.chunkIdKey);
    const entries: LayerEntry[] = [];
    const progress: LayerWriteProgress = {
      bytes: 0,
      dataBytes: 0,
      newChunks: 0,
      reusedChunks: 0,
      addedBytes: 0,
    };
    let storedBytes = 0;
    let holes = 0;
    let size = 0;
    let failure: { error: unknown } | undefined;
    const inFlight = new Map<string, Promise<number>>();
    const tasks = new Set<Promise<void>>();

    /** Stores one chunk unless it exists; resolves to the bytes it takes in the repository. */
    const storeChunk = async (id: string, data: Buffer): Promise<number> => {
      const key = KEYS.chunk(id);
      // Dedup: an existing chunk is only touched, which also tells gc that a writer uses it now.
      const existing = await store.backend.touch(key);
      if (existing) {
        progress.reusedChunks++;
        return existing.size;
      }
      const parts = await store.format.seal("chunk", key, data);
      await store.backend.put(key, parts);
      const n = parts.reduce((s, p) => s + p.length, 0);
      progress.newChunks++;
      progress.addedBytes += n;
      return n;
    };

    /** Hashes, then stores (or finds) one data chunk; the pool buffer comes back when all is done. */
    const handleChunk = async (index: number, buffer: Buffer, length: number): Promise<void> => {
      try {
        // A sparse layer's digest is over its entries: only the chunk id is needed from the thread.
        const id = await (sparse ? hasher.chunkId(buffer, length) : hasher.data(buffer, length));
        entries[index] = { id, length };
        let stored: number;
        const same = inFlight.get(id);
        if (same) {
          // The same content twice in flight: the second waits for the first instead of storing it again.
          stored = await same;
          progress.reusedChunks++;
        } else {
          const work = storeChunk(id, buffer.subarray(0, length));
          inFlight.set(id, work);
          try {
            stored = await work;
          } finally {
            inFlight.delete(id);
          }
        }
        storedBytes += stored;
        progress.bytes += length;
        progress.dataBytes += length;
        onProgress?.({ ...progress });
      } catch (error) {
        failure ??= { error };
      } finally {
        pool.release(buffer);
      }
    };

    /** Takes over an unchanged chunk of the base: touched (dedup's way of telling gc it is in use). */
    const reuseChunk = async (index: number, entry: LayerEntry & { id: string }): Promise<void> => {
      try {
        const existing = await store.backend.touch(KEYS.chunk(entry.id));
        if (!existing)
          throw new ChunkError(entry.id, "missing", "not in the repository", options.base, index * chunkSize);
        storedBytes += existing.size;
        progress.reusedChunks++;
        progress.bytes += entry.length;
        progress.dataBytes += entry.length;
        onProgress?.({ ...progress });
      } catch (error) {
        failure ??= { error };
      }
    };
    const pieces =
      sparse && options.expectedSize !== undefined
        ? overlayChunks(source, chunkSize, options.expectedSize, pool, base, signal)
        : cutChunks(source, chunkSize, pool, signal);

    let digest: string;
    try {
      try {
        for await (const piece of pieces) {
          if (failure) break;
          size += piece.length;
          const { data, buffer, reuse } = piece;
          if (reuse && "id" in reuse) {
            entries[piece.index] = reuse;
            // Touches need no buffer, so the pool does not bound them: keep their number in check here.
            while (tasks.size >= store.concurrency * 4) await Promise.race(tasks);
            const task = reuseChunk(piece.index, reuse).finally(() => tasks.delete(task));
            tasks.add(task);
            continue;
          }
          if (
            !data ||
            !buffer ||
            data.equals(piece.length === chunkSize ? zero : zero.subarray(0, piece.length))
          ) {
            if (!sparse) hasher.zeros(piece.length);
            if (buffer) pool.release(buffer);
            entries[piece.index] = { hole: true, length: piece.length };
            holes++;
            progress.bytes += piece.length;
            onProgress?.({ ...progress });
            continue;
          }
          const task = handleChunk(piece.index, buffer, piece.length).finally(() => tasks.delete(task));
          tasks.add(task);
        }
      } catch (e) {
        failure ??= { error: e };
      }
      // Never return (or throw) with writes still going on.
      while (tasks.size > 0) await Promise.all([...tasks]);
      if (failure) throw failure.error;
      signal?.throwIfAborted();
      if (options.expectedSize !== undefined && size !== options.expectedSize)
        throw new RepositoryError(`layer source ended after ${size} bytes, expected ${options.expectedSize}`);
      digest = sparse ? entriesDigest(entries) : await hasher.digest();
    } finally {
      await hasher.close();
    }

    const manifest: LayerManifest = {
      version: 1,
      id: randomUUID(),
      createdAt: new Date().toISOString(),
      chunkSize,
      size,
      sha256: digest,
      ...(sparse ? { digestOf: "entries" as const } : {}),
      dataBytes: progress.dataBytes,
      storedBytes,
      meta,
      entries,
    };
    // Chunks are durable (each put fsyncs) before the manifest that names them is written, and only while the
    // session still protects them from gc.
    (options.session ?? ownSession)?.assertHeld();
    await store.writeLayerManifest(manifest);
    return { ...progress, layerId: manifest.id, manifest, holes };
  } finally {
    await ownSession?.close();
  }
}
