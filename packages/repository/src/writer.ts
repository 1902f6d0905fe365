import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { RepositoryError } from "./errors";
import { LayerHasher } from "./hasher";
import { type LayerEntry, type LayerManifest, type LayerMeta, layerMetaSchema } from "./manifest";
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
        const id = await hasher.data(buffer, length);
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

    let digest: string;
    try {
      try {
        for await (const piece of cutChunks(source, chunkSize, pool, signal)) {
          if (failure) break;
          size += piece.length;
          const { data, buffer } = piece;
          if (
            !data ||
            !buffer ||
            data.equals(piece.length === chunkSize ? zero : zero.subarray(0, piece.length))
          ) {
            hasher.zeros(piece.length);
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
      digest = await hasher.digest();
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
      dataBytes: progress.dataBytes,
      storedBytes,
      meta,
      entries,
    };
    // Chunks are durable (each put fsyncs) before the manifest that names them is written.
    await store.writeLayerManifest(manifest);
    return { ...progress, layerId: manifest.id, manifest, holes };
  } finally {
    await ownSession?.close();
  }
}
