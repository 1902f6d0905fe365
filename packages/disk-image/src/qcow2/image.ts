import { type RandomAccessSource, readInto } from "../io";
import { decompressCluster } from "./compression";
import { Qcow2Error } from "./errors";
import { type Qcow2Header, readQcow2Header } from "./header";

export type AllocationKind = "data" | "zero" | "unallocated";

/** A guest range of one layer: `data` (stored here), `zero` (reads as zeroes here), `unallocated` (look below). */
export interface AllocationExtent {
  start: number;
  length: number;
  kind: AllocationKind;
}

/** Reads guest bytes of the layers below into `target` at `at`; used for ranges a layer does not have. */
export type BackingReader = (target: Buffer, at: number, offset: number, length: number) => Promise<void>;

/** One layer of a chain: a qcow2 volume or a raw base. */
export interface ImageLayer {
  readonly name: string;
  readonly format: "qcow2" | "raw";
  readonly virtualSize: number;
  readonly src: RandomAccessSource;
  /** Allocation of this layer alone over [0, virtualSize), sorted, contiguous, adjacent equal kinds merged. */
  mapAllocation(): AsyncIterable<AllocationExtent>;
  /**
   * Fills `target[at, at + length)` with guest bytes from `offset` (within virtualSize); ranges this layer
   * leaves unallocated come from `below`, or read as zeroes without it.
   */
  readInto(
    target: Buffer,
    at: number,
    offset: number,
    length: number,
    below: BackingReader | null,
  ): Promise<void>;
}

/** Upper bound of one read, so a caller's mistake cannot allocate a disk-sized buffer. */
export const MAX_GUEST_READ = 64 * 1024 * 1024;

/** Runs of one read in flight at once (reads and decompressions of different clusters). */
const RUNS_IN_FLIGHT = 8;

type Run =
  | { kind: "data"; start: number; length: number; host: number }
  | { kind: "compressed"; start: number; length: number; host: number; bytes: number; clusterStart: number }
  | { kind: "zero" | "unallocated"; start: number; length: number };

const TWO32 = 2 ** 32;
const L2_CACHE_BYTES = 32 * 1024 * 1024;

export function checkGuestRange(name: string, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0)
    throw new RangeError(`${name}: invalid guest range ${offset}+${length}`);
  if (length > MAX_GUEST_READ)
    throw new RangeError(`${name}: a read of ${length} bytes exceeds ${MAX_GUEST_READ}; read in chunks`);
}

/** Appends `run` to `runs`, extending the last run when both are the same kind and contiguous. */
function pushRun(runs: Run[], run: Run): void {
  const last = runs[runs.length - 1];
  if (last && last.kind === run.kind && last.start + last.length === run.start) {
    if (last.kind === "zero" || last.kind === "unallocated") {
      last.length += run.length;
      return;
    }
    if (last.kind === "data" && run.kind === "data" && last.host + last.length === run.host) {
      last.length += run.length;
      return;
    }
  }
  runs.push(run);
}

/** Reads guest data of one qcow2 file through its L1/L2 tables. Read-only; never loads more than one L1 table. */
export class Qcow2Image implements ImageLayer {
  readonly format = "qcow2" as const;
  private readonly l2Cache = new Map<number, Promise<Buffer>>();
  private readonly l2CacheMax: number;
  private readonly l2Coverage: number;
  private lastCompressed: { host: number; data: Promise<Buffer> } | null = null;

  private constructor(
    readonly src: RandomAccessSource,
    readonly name: string,
    readonly header: Qcow2Header,
    private readonly l1: Buffer,
  ) {
    this.l2CacheMax = Math.max(2, Math.floor(L2_CACHE_BYTES / header.clusterSize));
    this.l2Coverage = header.clusterSize * this.l2Entries;
  }

  /** Opens `src` as qcow2 (Qcow2Error for anything unreadable or unsupported). `name` labels errors. */
  static async open(src: RandomAccessSource, name = "image"): Promise<Qcow2Image> {
    const header = await readQcow2Header(src, name);
    const l2Entries = header.clusterSize / (header.extendedL2 ? 16 : 8);
    // Only the entries that map the guest size are needed; parseQcow2Header checked they lie in the file.
    const entries = Math.ceil(header.size / (header.clusterSize * l2Entries));
    const l1 = entries > 0 ? await src.read(header.l1TableOffset, entries * 8) : Buffer.alloc(0);
    if (l1.length < entries * 8)
      throw new Qcow2Error(
        name,
        "l1_table_offset",
        `file is truncated inside the L1 table at ${header.l1TableOffset}`,
      );
    return new Qcow2Image(src, name, header, l1);
  }

  get virtualSize(): number {
    return this.header.size;
  }

  get clusterSize(): number {
    return this.header.clusterSize;
  }

  private get l2Entries(): number {
    return this.header.clusterSize / (this.header.extendedL2 ? 16 : 8);
  }

  private fail(field: string, detail: string): never {
    throw new Qcow2Error(this.name, field, detail);
  }

  private l2Table(l1Index: number): Promise<Buffer> | null {
    const hi = this.l1.readUInt32BE(l1Index * 8);
    const lo = this.l1.readUInt32BE(l1Index * 8 + 4);
    const offset = (hi & 0x00ffffff) * TWO32 + ((lo & 0xfffffe00) >>> 0);
    if (offset === 0) return null;
    const cached = this.l2Cache.get(offset);
    if (cached) {
      this.l2Cache.delete(offset);
      this.l2Cache.set(offset, cached);
      return cached;
    }
    const field = `L1 entry ${l1Index}`;
    const cs = this.header.clusterSize;
    if (!Number.isSafeInteger(offset)) this.fail(field, `L2 table offset ${offset} is beyond 2^53`);
    if (offset % cs !== 0)
      this.fail(field, `L2 table offset ${offset} is not aligned to the cluster size ${cs}`);
    if (offset + cs > this.src.size)
      this.fail(field, `L2 table at ${offset} runs past the end of the file (${this.src.size} bytes)`);
    const p = this.src.read(offset, cs).then((t) => {
      if (t.length < cs) this.fail(field, `file is truncated inside the L2 table at ${offset}`);
      return t;
    });
    p.catch(() => this.l2Cache.delete(offset));
    this.l2Cache.set(offset, p);
    if (this.l2Cache.size > this.l2CacheMax) {
      const oldest = this.l2Cache.keys().next().value;
      if (oldest !== undefined) this.l2Cache.delete(oldest);
    }
    return p;
  }

  /** Runs of [from, to) inside one L2 table's coverage, decoded from the table `t`. */
  private decodeTable(t: Buffer, tableStart: number, from: number, to: number, runs: Run[]): void {
    const cs = this.header.clusterSize;
    const ext = this.header.extendedL2;
    const es = ext ? 16 : 8;
    const subSize = cs / 32;
    const fileSize = this.src.size;
    for (let c = Math.floor((from - tableStart) / cs); tableStart + c * cs < to; c++) {
      const clusterStart = tableStart + c * cs;
      const segStart = Math.max(from, clusterStart);
      const segEnd = Math.min(to, clusterStart + cs);
      const hi = t.readUInt32BE(c * es);
      const lo = t.readUInt32BE(c * es + 4);
      const field = () => `L2 entry for guest offset ${clusterStart}`;
      if (hi & 0x40000000) {
        // Compressed: host byte offset in the low x bits, additional 512-byte sectors above (spec: x = 62 - (bits - 8)).
        const e = t.readBigUInt64BE(c * es);
        const x = BigInt(70 - this.header.clusterBits);
        const host = Number(e & ((1n << x) - 1n));
        const sectors = Number((e >> x) & ((1n << (62n - x)) - 1n));
        if (!Number.isSafeInteger(host) || host >= fileSize)
          this.fail(
            field(),
            `compressed cluster offset ${host} is past the end of the file (${fileSize} bytes)`,
          );
        const bytes = (sectors + 1) * 512 - (host % 512);
        pushRun(runs, {
          kind: "compressed",
          start: segStart,
          length: segEnd - segStart,
          host,
          bytes,
          clusterStart,
        });
        continue;
      }
      const host = (hi & 0x00ffffff) * TWO32 + ((lo & 0xfffffe00) >>> 0);
      if (host !== 0) {
        if (!Number.isSafeInteger(host)) this.fail(field(), `cluster offset ${host} is beyond 2^53`);
        if (host % cs !== 0)
          this.fail(field(), `cluster offset ${host} is not aligned to the cluster size ${cs}`);
        if (host >= fileSize)
          this.fail(field(), `cluster offset ${host} is past the end of the file (${fileSize} bytes)`);
      }
      if (!ext) {
        if (lo & 1) pushRun(runs, { kind: "zero", start: segStart, length: segEnd - segStart });
        else if (host === 0)
          pushRun(runs, { kind: "unallocated", start: segStart, length: segEnd - segStart });
        else
          pushRun(runs, {
            kind: "data",
            start: segStart,
            length: segEnd - segStart,
            host: host + segStart - clusterStart,
          });
        continue;
      }
      // Extended L2: 32 subclusters; bitmap bits 0-31 "allocated", 32-63 "reads as zero".
      const zeroBits = t.readUInt32BE(c * es + 8);
      const allocBits = t.readUInt32BE(c * es + 12);
      if ((zeroBits & allocBits) !== 0) this.fail(field(), "a subcluster is marked both allocated and zero");
      if (host === 0 && allocBits !== 0)
        this.fail(field(), "subclusters are allocated but the cluster has no offset");
      for (
        let s = Math.floor((segStart - clusterStart) / subSize);
        clusterStart + s * subSize < segEnd;
        s++
      ) {
        const a = Math.max(segStart, clusterStart + s * subSize);
        const b = Math.min(segEnd, clusterStart + (s + 1) * subSize);
        if ((zeroBits >>> s) & 1) pushRun(runs, { kind: "zero", start: a, length: b - a });
        else if ((allocBits >>> s) & 1) {
          // An allocated subcluster holds written data: the file reaches it unless it was truncated.
          if (host + s * subSize >= fileSize)
            this.fail(
              field(),
              `subcluster ${s} at ${host + s * subSize} is past the end of the file (${fileSize} bytes)`,
            );
          pushRun(runs, { kind: "data", start: a, length: b - a, host: host + a - clusterStart });
        } else pushRun(runs, { kind: "unallocated", start: a, length: b - a });
      }
    }
  }

  /** Runs covering [offset, end), one batch per L2 table (end ≤ virtualSize). */
  private async *runBatches(offset: number, end: number): AsyncGenerator<Run[]> {
    for (let i = Math.floor(offset / this.l2Coverage); i * this.l2Coverage < end; i++) {
      const tableStart = i * this.l2Coverage;
      const from = Math.max(offset, tableStart);
      const to = Math.min(end, tableStart + this.l2Coverage);
      const table = this.l2Table(i);
      if (!table) {
        yield [{ kind: "unallocated", start: from, length: to - from }];
        continue;
      }
      const runs: Run[] = [];
      this.decodeTable(await table, tableStart, from, to, runs);
      yield runs;
    }
  }

  async *mapAllocation(): AsyncIterable<AllocationExtent> {
    let pending: AllocationExtent | null = null;
    for await (const runs of this.runBatches(0, this.virtualSize)) {
      for (const r of runs) {
        const kind: AllocationKind = r.kind === "compressed" ? "data" : r.kind;
        if (pending && pending.kind === kind) pending.length += r.length;
        else {
          if (pending) yield pending;
          pending = { start: r.start, length: r.length, kind };
        }
      }
    }
    if (pending) yield pending;
  }

  private decompressed(run: Extract<Run, { kind: "compressed" }>): Promise<Buffer> {
    if (this.lastCompressed?.host === run.host) return this.lastCompressed.data;
    const data = (async () => {
      const raw = await this.src.read(run.host, run.bytes);
      try {
        return await decompressCluster(raw, this.header.compressionType, this.header.clusterSize);
      } catch (e) {
        return this.fail(
          `compressed cluster for guest offset ${run.clusterStart}`,
          `${this.header.compressionType} data at ${run.host} is invalid: ${e instanceof Error ? e.message : e}`,
        );
      }
    })();
    this.lastCompressed = { host: run.host, data };
    return data;
  }

  async readInto(
    target: Buffer,
    at: number,
    offset: number,
    length: number,
    below: BackingReader | null,
  ): Promise<void> {
    checkGuestRange(this.name, offset, length);
    const end = Math.min(offset + length, this.virtualSize);
    if (end < offset + length) target.fill(0, at + Math.max(0, end - offset), at + length);
    let pending: Run | null = null;
    const flush = async (r: Run) => {
      const to = at + r.start - offset;
      if (r.kind === "data") await readInto(this.src, target, to, r.host, r.length);
      else if (r.kind === "unallocated" && below) await below(target, to, r.start, r.length);
      else if (r.kind === "compressed") {
        const from = r.start - r.clusterStart;
        (await this.decompressed(r)).copy(target, to, from, from + r.length);
      } else target.fill(0, to, to + r.length);
    };
    // Runs fill disjoint parts of the target, so several go at once: compressed clusters then decompress on
    // the binding's threads side by side instead of one after another.
    let batch: Promise<void>[] = [];
    const settle = async () => {
      const results = await Promise.allSettled(batch);
      batch = [];
      for (const r of results) if (r.status === "rejected") throw r.reason;
    };
    const submit = async (r: Run) => {
      batch.push(flush(r));
      if (batch.length >= RUNS_IN_FLIGHT) await settle();
    };
    try {
      for await (const runs of this.runBatches(offset, end)) {
        for (const r of runs) {
          if (pending) {
            const merged: Run[] = [pending];
            pushRun(merged, r);
            if (merged.length === 1) continue;
            await submit(pending);
          }
          pending = { ...r };
        }
      }
      if (pending) await submit(pending);
      await settle();
    } catch (e) {
      await Promise.allSettled(batch); // nothing writes into the caller's buffer once we return
      throw e;
    }
  }

  /** Guest bytes of this file alone: unallocated ranges read as zeroes. Short only past the virtual size. */
  async readGuest(offset: number, length: number): Promise<Buffer> {
    checkGuestRange(this.name, offset, length);
    const out = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.virtualSize - offset)));
    await this.readInto(out, 0, offset, out.length, null);
    return out;
  }
}

/** A raw volume (oVirt raw base): guest offset = file offset; allocation unknown, so all data. */
export class RawImage implements ImageLayer {
  readonly format = "raw" as const;
  constructor(
    readonly src: RandomAccessSource,
    readonly name: string,
  ) {}

  get virtualSize(): number {
    return this.src.size;
  }

  async *mapAllocation(): AsyncIterable<AllocationExtent> {
    if (this.src.size > 0) yield { start: 0, length: this.src.size, kind: "data" };
  }

  readInto(target: Buffer, at: number, offset: number, length: number): Promise<void> {
    checkGuestRange(this.name, offset, length);
    return readInto(this.src, target, at, offset, length);
  }
}
