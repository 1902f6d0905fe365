import { type FileHandle, open } from "node:fs/promises";
import { decompressCluster } from "./compression";
import { Qcow2Error } from "./errors";
import { parseQcow2Header, QCOW2_MAGIC, Qcow2Extension, type Qcow2Header } from "./header";

const OFFSET_MASK = 0x00fffffffffffe00n;
const OFLAG_COPIED = 1n << 63n;
const OFLAG_COMPRESSED = 1n << 62n;
const OFLAG_ZERO = 1n;
/** The refcount table is read whole: bound what a hostile header can make us allocate. */
const MAX_REFCOUNT_TABLE_BYTES = 64 * 1024 * 1024;

/** The header fields the writer sets; the rest of Qcow2Header is derived from them when parsed. */
type Qcow2HeaderFields = Pick<
  Qcow2Header,
  | "version"
  | "clusterBits"
  | "size"
  | "cryptMethod"
  | "l1Size"
  | "l1TableOffset"
  | "refcountTableOffset"
  | "refcountTableClusters"
  | "nbSnapshots"
  | "snapshotsOffset"
  | "incompatibleFeatures"
  | "compatibleFeatures"
  | "autoclearFeatures"
  | "refcountOrder"
  | "headerLength"
  | "compressionType"
  | "backingFile"
  | "backingFormat"
>;

/** A header extension kept verbatim when the header is rewritten. */
interface RawExtension {
  type: number;
  data: Buffer;
}

/** Serialises a header (with its extensions and backing name) into a buffer of one cluster. */
function encodeHeader(h: Qcow2HeaderFields, otherExtensions: readonly RawExtension[], file: string): Buffer {
  const clusterSize = 2 ** h.clusterBits;
  const out = Buffer.alloc(clusterSize);
  out.writeUInt32BE(QCOW2_MAGIC, 0);
  out.writeUInt32BE(h.version, 4);
  out.writeUInt32BE(h.clusterBits, 20);
  out.writeBigUInt64BE(BigInt(h.size), 24);
  out.writeUInt32BE(h.cryptMethod, 32);
  out.writeUInt32BE(h.l1Size, 36);
  out.writeBigUInt64BE(BigInt(h.l1TableOffset), 40);
  out.writeBigUInt64BE(BigInt(h.refcountTableOffset), 48);
  out.writeUInt32BE(h.refcountTableClusters, 56);
  out.writeUInt32BE(h.nbSnapshots, 60);
  out.writeBigUInt64BE(BigInt(h.snapshotsOffset), 64);
  let pos = 72;
  if (h.version === 3) {
    out.writeBigUInt64BE(h.incompatibleFeatures, 72);
    out.writeBigUInt64BE(h.compatibleFeatures, 80);
    out.writeBigUInt64BE(h.autoclearFeatures, 88);
    out.writeUInt32BE(h.refcountOrder, 96);
    out.writeUInt32BE(h.headerLength, 100);
    if (h.headerLength > 104) out.writeUInt8(h.compressionType === "zstd" ? 1 : 0, 104);
    pos = h.headerLength;
  }
  const exts: RawExtension[] = [];
  if (h.backingFile !== null && h.backingFormat !== null)
    exts.push({ type: Qcow2Extension.backingFormat, data: Buffer.from(h.backingFormat, "utf8") });
  exts.push(...otherExtensions);
  const fits = (n: number) => {
    if (n > clusterSize)
      throw new Qcow2Error(file, "header", "header, extensions and backing name do not fit in one cluster");
  };
  if (h.version === 3 || exts.length > 0) {
    for (const e of exts) {
      fits(pos + 8 + Math.ceil(e.data.length / 8) * 8);
      out.writeUInt32BE(e.type, pos);
      out.writeUInt32BE(e.data.length, pos + 4);
      e.data.copy(out, pos + 8);
      pos += 8 + Math.ceil(e.data.length / 8) * 8;
    }
    fits(pos + 8);
    out.writeUInt32BE(Qcow2Extension.end, pos);
    out.writeUInt32BE(0, pos + 4);
    pos += 8;
  }
  if (h.backingFile !== null) {
    const name = Buffer.from(h.backingFile, "utf8");
    if (name.length === 0 || name.length > 1023)
      throw new Qcow2Error(file, "backing_file_size", `invalid backing name "${h.backingFile}"`);
    fits(pos + name.length);
    name.copy(out, pos);
    out.writeBigUInt64BE(BigInt(pos), 8);
    out.writeUInt32BE(name.length, 16);
  } else {
    out.writeBigUInt64BE(0n, 8);
    out.writeUInt32BE(0, 16);
  }
  return out;
}

export type L2Entry =
  | { kind: "unallocated" }
  /** Reads as zeroes without consulting the backing file; `host` is a preallocated cluster or 0. */
  | { kind: "zero"; host: number }
  | { kind: "data"; host: number; copied: boolean }
  | { kind: "compressed"; host: number; sectors: number };

/** One run of guest clusters of a single layer with the same allocation kind. */
export interface LayerRun {
  start: number;
  length: number;
  kind: "data" | "zero";
}

export interface CreateQcow2Options {
  /** Virtual size in bytes. */
  size: number;
  /** Bare parent volume UUID, as oVirt writes it. */
  backingName?: string;
  backingFormat?: "qcow2" | "raw";
  clusterBits?: number;
}

/**
 * A qcow2 file opened for mapping, reading and (when writable) cluster-granular writes that keep L1/L2
 * tables, the copied flags and the refcounts consistent (so `qemu-img check` is clean). Metadata is cached
 * per instance: open one per operation and serialise writers of the same file.
 */
export class Qcow2Volume {
  readonly clusterSize: number;
  readonly l2Entries: number;
  private l1: Buffer;
  private l1Dirty = false;
  private readonly l2Cache = new Map<number, Buffer>();
  private readonly l2Dirty = new Set<number>();
  private rt: Buffer | null = null;
  private rtDirty = false;
  private readonly blocks = new Map<number, Buffer>();
  private readonly blocksDirty = new Set<number>();
  private headerDirty = false;
  private nextFree = 0;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly header: Qcow2Header,
    /** Extensions other than the backing format and the end marker, kept verbatim on rewrite. */
    private readonly otherExtensions: readonly RawExtension[],
    l1: Buffer,
    readonly writable: boolean,
    fileSize: number,
  ) {
    this.clusterSize = 2 ** header.clusterBits;
    this.l2Entries = this.clusterSize / 8;
    this.l1 = l1;
    this.nextFree = Math.ceil(fileSize / this.clusterSize);
  }

  static async open(path: string, opts: { writable?: boolean } = {}): Promise<Qcow2Volume> {
    const writable = opts.writable ?? false;
    const fh = await open(path, writable ? "r+" : "r");
    try {
      const st = await fh.stat();
      const first = Buffer.alloc(Math.min(st.size, 2 ** 21));
      await fh.read(first, 0, first.length, 0);
      const header = parseQcow2Header(first, path, st.size);
      const clusterSize = header.clusterSize;
      const fail = (field: string, detail: string): never => {
        throw new Qcow2Error(path, field, detail);
      };
      // What the reader accepts but this writer cannot keep consistent.
      if (header.extendedL2) fail("incompatible_features", "extended L2 entries are not supported");
      if (header.headerLength % 8 !== 0)
        fail("header_length", `${header.headerLength} is not a multiple of 8`);
      if (header.refcountTableOffset % clusterSize !== 0)
        fail("refcount_table_offset", `${header.refcountTableOffset} is not cluster aligned`);
      if (header.refcountTableClusters * clusterSize > MAX_REFCOUNT_TABLE_BYTES)
        fail("refcount_table_clusters", `a table of ${header.refcountTableClusters} clusters is too large`);
      if (writable) {
        if (header.dirty || header.corrupt)
          fail("incompatible_features", "image is marked dirty or corrupt; refusing to write");
        if (header.nbSnapshots > 0) fail("nb_snapshots", "image has internal snapshots; refusing to write");
        if (header.refcountOrder < 3)
          fail("refcount_order", `${header.refcountOrder} is not supported for writing`);
      }
      const l1Bytes = header.l1Size * 8;
      if (header.l1TableOffset + l1Bytes > st.size && l1Bytes > 0)
        fail("l1_table_offset", "L1 table lies past the end of the file");
      const l1 = Buffer.alloc(l1Bytes);
      if (l1Bytes > 0) await fh.read(l1, 0, l1Bytes, header.l1TableOffset);
      const otherExtensions = header.extensions
        .filter((e) => e.type !== Qcow2Extension.backingFormat)
        .map((e) => ({ type: e.type, data: Buffer.from(first.subarray(e.offset, e.offset + e.length)) }));
      return new Qcow2Volume(path, fh, header, otherExtensions, l1, writable, st.size);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Creates an empty qcow2 v3 (compat 1.1) file, optionally with a backing name and format extension. */
  static async create(path: string, opts: CreateQcow2Options): Promise<void> {
    const clusterBits = opts.clusterBits ?? 16;
    const cs = 2 ** clusterBits;
    const l2Entries = cs / 8;
    const l1Size = Math.max(1, Math.ceil(opts.size / (cs * l2Entries)));
    const l1Clusters = Math.ceil((l1Size * 8) / cs);
    const perBlock = (cs * 8) / 16;
    // header + refcount table + refcount blocks + L1, laid out in that order (as qemu-img does).
    let rtClusters = 1;
    let blocks = 1;
    for (;;) {
      const total = 1 + rtClusters + blocks + l1Clusters;
      const needBlocks = Math.ceil(total / perBlock);
      const needRt = Math.ceil((needBlocks * 8) / cs);
      if (needBlocks === blocks && needRt === rtClusters) break;
      blocks = needBlocks;
      rtClusters = needRt;
    }
    const total = 1 + rtClusters + blocks + l1Clusters;
    const rtOffset = cs;
    const blocksOffset = rtOffset + rtClusters * cs;
    const l1Offset = blocksOffset + blocks * cs;
    const header: Qcow2HeaderFields = {
      version: 3,
      clusterBits,
      size: opts.size,
      cryptMethod: 0,
      l1Size,
      l1TableOffset: l1Offset,
      refcountTableOffset: rtOffset,
      refcountTableClusters: rtClusters,
      nbSnapshots: 0,
      snapshotsOffset: 0,
      incompatibleFeatures: 0n,
      compatibleFeatures: 0n,
      autoclearFeatures: 0n,
      refcountOrder: 4,
      headerLength: 112,
      compressionType: "deflate",
      backingFile: opts.backingName ?? null,
      backingFormat: opts.backingName ? (opts.backingFormat ?? "qcow2") : null,
    };
    const file = Buffer.alloc(total * cs);
    encodeHeader(header, [], path).copy(file, 0);
    for (let b = 0; b < blocks; b++) file.writeBigUInt64BE(BigInt(blocksOffset + b * cs), rtOffset + b * 8);
    for (let c = 0; c < total; c++) file.writeUInt16BE(1, blocksOffset + c * 2);
    const fh = await open(path, "wx");
    try {
      await fh.write(file, 0, file.length, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  get size(): number {
    return this.header.size;
  }

  get backingName(): string | null {
    return this.header.backingFile;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  private l1Entry(i: number): bigint {
    return this.l1.readBigUInt64BE(i * 8);
  }

  private async readL2(hostOffset: number): Promise<Buffer> {
    const cached = this.l2Cache.get(hostOffset);
    if (cached) return cached;
    const buf = Buffer.alloc(this.clusterSize);
    const { bytesRead } = await this.fh.read(buf, 0, buf.length, hostOffset);
    if (bytesRead < buf.length) throw new Qcow2Error(this.path, `L2 table at ${hostOffset}`, "is truncated");
    this.l2Cache.set(hostOffset, buf);
    return buf;
  }

  private decode(e: bigint): L2Entry {
    if (e & OFLAG_COMPRESSED) {
      const x = 62 - (this.header.clusterBits - 8);
      const host = Number(e & ((1n << BigInt(x)) - 1n));
      const sectors = Number((e >> BigInt(x)) & ((1n << BigInt(this.header.clusterBits - 8)) - 1n));
      return { kind: "compressed", host, sectors };
    }
    const host = Number(e & OFFSET_MASK);
    if (this.header.version === 3 && e & OFLAG_ZERO) return { kind: "zero", host };
    if (host === 0) return { kind: "unallocated" };
    if (host % this.clusterSize !== 0)
      throw new Qcow2Error(this.path, "L2 entry", `points to unaligned host offset ${host}`);
    return { kind: "data", host, copied: (e & OFLAG_COPIED) !== 0n };
  }

  /** The L2 entry of one guest cluster of this layer. */
  async entry(guestCluster: number): Promise<L2Entry> {
    const l1i = Math.floor(guestCluster / this.l2Entries);
    if (l1i >= this.header.l1Size) return { kind: "unallocated" };
    const l2off = Number(this.l1Entry(l1i) & OFFSET_MASK);
    if (l2off === 0) return { kind: "unallocated" };
    const l2 = await this.readL2(l2off);
    return this.decode(l2.readBigUInt64BE((guestCluster % this.l2Entries) * 8));
  }

  /** Guest runs allocated in this layer (data or zero-flagged), merged, in guest byte units. */
  async allocation(): Promise<LayerRun[]> {
    const runs: LayerRun[] = [];
    const push = (start: number, kind: "data" | "zero") => {
      const last = runs[runs.length - 1];
      if (last && last.kind === kind && last.start + last.length === start) last.length += this.clusterSize;
      else runs.push({ start, length: this.clusterSize, kind });
    };
    const clusters = Math.ceil(this.header.size / this.clusterSize);
    for (let l1i = 0; l1i < this.header.l1Size; l1i++) {
      const l2off = Number(this.l1Entry(l1i) & OFFSET_MASK);
      if (l2off === 0) continue;
      const l2 = await this.readL2(l2off);
      for (let j = 0; j < this.l2Entries; j++) {
        const gc = l1i * this.l2Entries + j;
        if (gc >= clusters) break;
        const e = this.decode(l2.readBigUInt64BE(j * 8));
        if (e.kind === "unallocated") continue;
        push(gc * this.clusterSize, e.kind === "zero" ? "zero" : "data");
      }
    }
    for (const r of runs) r.length = Math.min(r.length, this.header.size - r.start);
    return runs;
  }

  /** Data of one guest cluster stored in this layer (for data, zero and compressed entries). */
  async readCluster(entry: L2Entry): Promise<Buffer> {
    const out = Buffer.alloc(this.clusterSize);
    if (entry.kind === "data") {
      await this.fh.read(out, 0, out.length, entry.host);
    } else if (entry.kind === "compressed") {
      const start = entry.host;
      const len = (entry.sectors + 1) * 512 - (start % 512);
      const comp = Buffer.alloc(len);
      const { bytesRead } = await this.fh.read(comp, 0, len, start);
      try {
        const plain = await decompressCluster(
          comp.subarray(0, bytesRead),
          this.header.compressionType,
          this.clusterSize,
        );
        plain.copy(out);
      } catch (e) {
        throw new Qcow2Error(this.path, `compressed cluster at ${start}`, (e as Error).message);
      }
    }
    return out;
  }

  /** Reads `length` bytes of this layer's own data at host offset (used for contiguous data runs). */
  async readHost(hostOffset: number, length: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    await this.fh.read(buf, 0, length, hostOffset);
    return buf;
  }

  // ---- writing ----

  private assertWritable(): void {
    if (!this.writable) throw new Qcow2Error(this.path, "volume", "opened read-only");
  }

  private get refcountBits(): number {
    return 2 ** this.header.refcountOrder;
  }

  private get refcountsPerBlock(): number {
    return (this.clusterSize * 8) / this.refcountBits;
  }

  private async refTable(): Promise<Buffer> {
    if (this.rt) return this.rt;
    const len = this.header.refcountTableClusters * this.clusterSize;
    const buf = Buffer.alloc(len);
    await this.fh.read(buf, 0, len, this.header.refcountTableOffset);
    this.rt = buf;
    return buf;
  }

  private async block(index: number, create: boolean): Promise<Buffer | null> {
    const cached = this.blocks.get(index);
    if (cached) return cached;
    const rt = await this.refTable();
    if (index * 8 >= rt.length) {
      if (!create) return null;
      await this.growRefTable(index + 1);
      return this.block(index, create);
    }
    const off = Number(rt.readBigUInt64BE(index * 8) & OFFSET_MASK);
    if (off === 0) {
      if (!create) return null;
      // The new block lives in a fresh cluster; its own refcount may land in this very block.
      const c = this.nextFree++;
      const buf = Buffer.alloc(this.clusterSize);
      this.blocks.set(index, buf);
      this.blocksDirty.add(index);
      rt.writeBigUInt64BE(BigInt(c * this.clusterSize), index * 8);
      this.rtDirty = true;
      await this.addRef(c, 1);
      return buf;
    }
    const buf = Buffer.alloc(this.clusterSize);
    await this.fh.read(buf, 0, buf.length, off);
    this.blocks.set(index, buf);
    return buf;
  }

  private async growRefTable(minEntries: number): Promise<void> {
    const old = await this.refTable();
    const oldClusters = this.header.refcountTableClusters;
    const oldOffset = this.header.refcountTableOffset;
    const clusters = Math.max(oldClusters * 2, Math.ceil((minEntries * 8) / this.clusterSize) + 1);
    const start = this.nextFree;
    this.nextFree += clusters;
    const fresh = Buffer.alloc(clusters * this.clusterSize);
    old.copy(fresh);
    this.rt = fresh;
    this.rtDirty = true;
    this.header.refcountTableOffset = start * this.clusterSize;
    this.header.refcountTableClusters = clusters;
    this.headerDirty = true;
    for (let i = 0; i < clusters; i++) await this.addRef(start + i, 1);
    for (let i = 0; i < oldClusters; i++) await this.addRef(oldOffset / this.clusterSize + i, -1);
  }

  private readRef(buf: Buffer, i: number): number {
    const bits = this.refcountBits;
    if (bits === 8) return buf.readUInt8(i);
    if (bits === 16) return buf.readUInt16BE(i * 2);
    if (bits === 32) return buf.readUInt32BE(i * 4);
    return Number(buf.readBigUInt64BE(i * 8));
  }

  private writeRef(buf: Buffer, i: number, v: number): void {
    const bits = this.refcountBits;
    if (v < 0 || v >= 2 ** Math.min(bits, 53)) throw new Qcow2Error(this.path, "refcount", "overflow");
    if (bits === 8) buf.writeUInt8(v, i);
    else if (bits === 16) buf.writeUInt16BE(v, i * 2);
    else if (bits === 32) buf.writeUInt32BE(v, i * 4);
    else buf.writeBigUInt64BE(BigInt(v), i * 8);
  }

  private async addRef(cluster: number, delta: number): Promise<number> {
    const per = this.refcountsPerBlock;
    const bi = Math.floor(cluster / per);
    const blk = await this.block(bi, true);
    if (!blk) throw new Qcow2Error(this.path, "refcount block", "missing");
    const cur = this.readRef(blk, cluster % per);
    const next = cur + delta;
    if (next < 0) throw new Qcow2Error(this.path, `refcount of cluster ${cluster}`, "would drop below zero");
    this.writeRef(blk, cluster % per, next);
    this.blocksDirty.add(bi);
    return next;
  }

  private async allocCluster(): Promise<number> {
    const c = this.nextFree++;
    await this.addRef(c, 1);
    return c * this.clusterSize;
  }

  private async freeEntry(e: L2Entry): Promise<void> {
    if (e.kind === "data" || (e.kind === "zero" && e.host !== 0)) {
      await this.addRef(e.host / this.clusterSize, -1);
    } else if (e.kind === "compressed") {
      const start = Math.floor(e.host / 512) * 512;
      const end = start + (e.sectors + 1) * 512;
      for (let c = Math.floor(start / this.clusterSize); c * this.clusterSize < end; c++)
        await this.addRef(c, -1);
    }
  }

  private async l2For(guestCluster: number): Promise<{ table: Buffer; index: number }> {
    const l1i = Math.floor(guestCluster / this.l2Entries);
    if (l1i >= this.header.l1Size)
      throw new Qcow2Error(this.path, "l1_size", `guest cluster ${guestCluster} is beyond the L1 table`);
    const l1e = this.l1Entry(l1i);
    let off = Number(l1e & OFFSET_MASK);
    if (off === 0) {
      off = await this.allocCluster();
      const table = Buffer.alloc(this.clusterSize);
      this.l2Cache.set(off, table);
      this.l2Dirty.add(off);
      this.l1.writeBigUInt64BE(BigInt(off) | OFLAG_COPIED, l1i * 8);
      this.l1Dirty = true;
    } else if (!(l1e & OFLAG_COPIED)) {
      throw new Qcow2Error(this.path, `L2 table ${off}`, "is shared; refusing to write");
    }
    return { table: await this.readL2(off), index: (guestCluster % this.l2Entries) * 8 };
  }

  /**
   * Writes whole guest clusters starting at `firstCluster`; `data.length` must be a multiple of the cluster
   * size. Reuses clusters this layer owns, allocates new ones otherwise (contiguous when possible).
   */
  async writeClusters(firstCluster: number, data: Buffer): Promise<void> {
    this.assertWritable();
    const cs = this.clusterSize;
    if (data.length % cs !== 0)
      throw new Qcow2Error(this.path, "write", "writeClusters needs whole clusters");
    const n = data.length / cs;
    if ((firstCluster + n) * cs > Math.ceil(this.header.size / cs) * cs)
      throw new Qcow2Error(this.path, "write", `past the virtual size ${this.header.size}`);
    const targets: number[] = [];
    for (let i = 0; i < n; i++) {
      const { table, index } = await this.l2For(firstCluster + i);
      const old = this.decode(table.readBigUInt64BE(index));
      let host: number;
      if (old.kind === "data" && old.copied) host = old.host;
      else if (old.kind === "zero" && old.host !== 0) host = old.host;
      else {
        if (old.kind === "data")
          throw new Qcow2Error(this.path, `data cluster ${old.host}`, "is shared; refusing to write");
        await this.freeEntry(old);
        host = await this.allocCluster();
      }
      table.writeBigUInt64BE(BigInt(host) | OFLAG_COPIED, index);
      this.l2Dirty.add(this.l2Offset(firstCluster + i));
      targets.push(host);
    }
    // Data first, in contiguous host runs, then metadata.
    let i = 0;
    while (i < n) {
      let j = i + 1;
      while (j < n && targets[j] === (targets[j - 1] as number) + cs) j++;
      await this.fh.write(data, i * cs, (j - i) * cs, targets[i] as number);
      i = j;
    }
    await this.flushMetadata();
  }

  /**
   * Makes `count` guest clusters read as zeroes. v3: zero flag (data clusters released); v2 without a
   * backing file: deallocate; v2 with a backing file: write zero data (v2 has no zero flag).
   */
  async zeroClusters(firstCluster: number, count: number): Promise<void> {
    this.assertWritable();
    if (this.header.version === 2 && this.header.backingFile !== null) {
      const chunk = 256;
      for (let c = 0; c < count; c += chunk) {
        const k = Math.min(chunk, count - c);
        await this.writeClusters(firstCluster + c, Buffer.alloc(k * this.clusterSize));
      }
      return;
    }
    for (let i = 0; i < count; i++) {
      const gc = firstCluster + i;
      const l1i = Math.floor(gc / this.l2Entries);
      if (this.header.version === 2 && Number(this.l1Entry(l1i) & OFFSET_MASK) === 0) continue;
      const { table, index } = await this.l2For(gc);
      const old = this.decode(table.readBigUInt64BE(index));
      if (old.kind === "zero" && old.host === 0) continue;
      if (old.kind === "unallocated" && this.header.version === 2) continue;
      await this.freeEntry(old);
      table.writeBigUInt64BE(this.header.version === 3 ? OFLAG_ZERO : 0n, index);
      this.l2Dirty.add(this.l2Offset(gc));
    }
    await this.flushMetadata();
  }

  private l2Offset(guestCluster: number): number {
    return Number(this.l1Entry(Math.floor(guestCluster / this.l2Entries)) & OFFSET_MASK);
  }

  /** Rewrites the backing name (and format extension) in the header, as `qemu-img rebase -u` does. */
  async setBacking(name: string | null, format: "qcow2" | "raw" | null): Promise<void> {
    this.assertWritable();
    this.header.backingFile = name;
    this.header.backingFormat = name === null ? null : format;
    this.headerDirty = true;
    await this.flushMetadata();
  }

  private async flushMetadata(): Promise<void> {
    for (const bi of this.blocksDirty) {
      const rt = await this.refTable();
      const off = Number(rt.readBigUInt64BE(bi * 8) & OFFSET_MASK);
      const blk = this.blocks.get(bi);
      if (blk && off) await this.fh.write(blk, 0, blk.length, off);
    }
    this.blocksDirty.clear();
    if (this.rtDirty && this.rt) {
      await this.fh.write(this.rt, 0, this.rt.length, this.header.refcountTableOffset);
      this.rtDirty = false;
    }
    for (const off of this.l2Dirty) {
      const t = this.l2Cache.get(off);
      if (t) await this.fh.write(t, 0, t.length, off);
    }
    this.l2Dirty.clear();
    if (this.l1Dirty) {
      await this.fh.write(this.l1, 0, this.l1.length, this.header.l1TableOffset);
      this.l1Dirty = false;
    }
    if (this.headerDirty) {
      // Cluster 0 belongs to the header alone, so rewriting it whole is safe.
      const head = encodeHeader(this.header, this.otherExtensions, this.path);
      await this.fh.write(head, 0, head.length, 0);
      this.headerDirty = false;
    }
  }

  async flush(): Promise<void> {
    await this.flushMetadata();
    await this.fh.sync();
  }
}
