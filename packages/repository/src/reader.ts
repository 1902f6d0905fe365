import { Readable } from "node:stream";
import { RepositoryError } from "./errors";
import { LayerHasher } from "./hasher";
import { entriesDigest, type LayerManifest } from "./manifest";
import type { ObjectStore } from "./store";
import type { LayerSegment } from "./writer";

/**
 * Random access to the bytes of an image. Structurally the same as ovirt-core's RandomAccessSource
 * (packages/ovirt-core/src/io), so a layer in the repository can feed its qcow2 reader directly:
 * `read` past the end returns fewer bytes (none at or after `size`).
 */
export interface RandomAccessSource {
  readonly size: number;
  read(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

export interface LayerRange {
  /** First byte (default 0). */
  offset?: number;
  /** Bytes from `offset` (default: to the end of the layer). */
  length?: number;
  signal?: AbortSignal;
}

function resolveRange(m: LayerManifest, range: LayerRange): { start: number; end: number } {
  const start = range.offset ?? 0;
  const length = range.length ?? m.size - start;
  if (!Number.isSafeInteger(start) || start < 0 || start > m.size)
    throw new RepositoryError(`offset ${start} is outside layer ${m.id} (${m.size} bytes)`);
  if (!Number.isSafeInteger(length) || length < 0 || start + length > m.size)
    throw new RepositoryError(`range ${start}+${length} is outside layer ${m.id} (${m.size} bytes)`);
  return { start, end: start + length };
}

/**
 * The layer's pieces in order within [start, end): data from chunks (fetched `readAhead` ahead, checked
 * against their ids) and zero runs for holes, consecutive holes merged.
 */
async function* pieces(
  store: ObjectStore,
  m: LayerManifest,
  start: number,
  end: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<LayerSegment> {
  if (start >= end) return;
  const first = Math.floor(start / m.chunkSize);
  const last = Math.floor((end - 1) / m.chunkSize);
  const readAhead = Math.max(2, store.concurrency);
  const pending = new Map<number, Promise<Buffer>>();
  let next = first;
  const schedule = () => {
    while (next <= last && pending.size < readAhead) {
      const i = next++;
      const e = m.entries[i];
      if (e && "id" in e) {
        const p = store.readChunk(e.id, e.length, m.id, i * m.chunkSize);
        p.catch(() => {}); // awaited in order below; this only keeps an early failure from going unhandled
        pending.set(i, p);
      }
    }
  };
  let zeroFrom = -1;
  let zeroTo = -1;
  for (let i = first; i <= last; i++) {
    signal?.throwIfAborted();
    schedule();
    const e = m.entries[i];
    if (!e) throw new RepositoryError(`layer ${m.id} has no entry ${i}`);
    const chunkStart = i * m.chunkSize;
    const from = Math.max(start, chunkStart);
    const to = Math.min(end, chunkStart + e.length);
    if (!("id" in e)) {
      if (zeroTo !== from) {
        if (zeroTo > zeroFrom) yield { offset: zeroFrom, length: zeroTo - zeroFrom, zero: true };
        zeroFrom = from;
      }
      zeroTo = to;
      continue;
    }
    if (zeroTo > zeroFrom) yield { offset: zeroFrom, length: zeroTo - zeroFrom, zero: true };
    zeroFrom = zeroTo = -1;
    const p = pending.get(i);
    pending.delete(i);
    const data = await (p ?? store.readChunk(e.id, e.length, m.id, chunkStart));
    yield { offset: from, data: data.subarray(from - chunkStart, to - chunkStart) };
  }
  if (zeroTo > zeroFrom) yield { offset: zeroFrom, length: zeroTo - zeroFrom, zero: true };
}

/** The layer as segments: data chunks and merged zero runs (a restore can write zeroes without sending them). */
export async function* layerSegments(
  store: ObjectStore,
  m: LayerManifest,
  range: LayerRange = {},
): AsyncGenerator<LayerSegment> {
  const { start, end } = resolveRange(m, range);
  yield* pieces(store, m, start, end, range.signal);
}

const ZERO_PIECE = 1024 * 1024;

/**
 * The layer as a byte stream. Every chunk is checked against its id; a full read also checks the layer's
 * SHA-256 at the end, so a stream that ends without error delivered exactly what was backed up.
 */
export function layerStream(store: ObjectStore, m: LayerManifest, range: LayerRange = {}): Readable {
  const { start, end } = resolveRange(m, range);
  const whole = start === 0 && end === m.size;
  async function* bytes(): AsyncGenerator<Buffer> {
    // A layer written against a base pins its bytes by its entries (each chunk is checked against its id).
    const byEntries = m.digestOf === "entries";
    if (whole && byEntries && entriesDigest(m.entries) !== m.sha256)
      throw new RepositoryError(`layer ${m.id}: its entries do not match its recorded digest ${m.sha256}`);
    const hasher = whole && !byEntries ? new LayerHasher(undefined) : undefined;
    try {
      let hashed: Promise<void> | undefined;
      for await (const s of pieces(store, m, start, end, range.signal)) {
        if ("data" in s) {
          // One chunk hashing while the next is read and handed on: bounded, and off the event loop.
          await hashed;
          hashed = hasher?.update(s.data);
          hashed?.catch(() => {});
          yield s.data;
          continue;
        }
        hasher?.zeros(s.length);
        for (let left = s.length; left > 0; left -= ZERO_PIECE)
          yield Buffer.alloc(Math.min(left, ZERO_PIECE));
      }
      await hashed;
      const sha = await hasher?.digest();
      if (sha !== undefined && sha !== m.sha256)
        throw new RepositoryError(
          `layer ${m.id} reads back with SHA-256 ${sha}, not the recorded ${m.sha256}`,
        );
    } finally {
      await hasher?.close();
    }
  }
  return Readable.from(bytes(), { objectMode: false, highWaterMark: m.chunkSize });
}

/** Random access over a layer with a small cache of decoded chunks (qcow2 metadata reads hit the same ones). */
export class LayerRandomAccess implements RandomAccessSource {
  readonly size: number;
  private readonly cache = new Map<number, Promise<Buffer>>();
  private closed = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly manifest: LayerManifest,
    private readonly cacheChunks = 8,
  ) {
    this.size = manifest.size;
  }

  private chunk(i: number): Promise<Buffer> {
    const hit = this.cache.get(i);
    if (hit) {
      this.cache.delete(i); // re-insert: the Map's order is the LRU order
      this.cache.set(i, hit);
      return hit;
    }
    const e = this.manifest.entries[i];
    if (!e) return Promise.reject(new RepositoryError(`layer ${this.manifest.id} has no entry ${i}`));
    const p =
      "id" in e
        ? this.store.readChunk(e.id, e.length, this.manifest.id, i * this.manifest.chunkSize)
        : Promise.resolve(Buffer.alloc(e.length));
    p.catch(() => {
      if (this.cache.get(i) === p) this.cache.delete(i); // a failed read is not cached
    });
    this.cache.set(i, p);
    while (this.cache.size > this.cacheChunks) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    return p;
  }

  async read(position: number, length: number): Promise<Buffer> {
    if (this.closed) throw new RepositoryError(`layer ${this.manifest.id} is closed`);
    if (!Number.isSafeInteger(position) || position < 0)
      throw new RepositoryError(
        `layer ${this.manifest.id}: read position ${position} is not a safe byte offset`,
      );
    if (!Number.isSafeInteger(length) || length < 0)
      throw new RepositoryError(`layer ${this.manifest.id}: read length ${length} is not a safe byte count`);
    const end = Math.min(this.size, position + length);
    if (position >= end) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(end - position);
    const cs = this.manifest.chunkSize;
    const reads: Promise<void>[] = [];
    for (let i = Math.floor(position / cs); i * cs < end; i++) {
      const from = Math.max(position, i * cs);
      const to = Math.min(end, (i + 1) * cs);
      reads.push(this.chunk(i).then((c) => void c.copy(out, from - position, from - i * cs, to - i * cs)));
    }
    await Promise.all(reads);
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cache.clear();
  }
}
