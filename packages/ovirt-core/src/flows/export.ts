import { Readable } from "node:stream";
import type { ImageChain } from "@lifeboat/disk-image";
import { QCOW2_MAGIC } from "@lifeboat/disk-image";
import type { Repository, RestorePointManifest } from "@lifeboat/repository";
import { guestSegments } from "../imageio";
import { openPointChain } from "./chain-source";
import { pointDisk, pointView } from "./manifest";
import type { DiskImageExport } from "./types";

const CLUSTER_BITS = 16;
const CS = 2 ** CLUSTER_BITS;
/** Entries of one L2 table (8-byte entries), and the guest clusters one refcount block counts (16-bit). */
const L2_ENTRIES = CS / 8;
const REFCOUNTS_PER_BLOCK = CS / 2;
const COPIED = 1n << 63n;
const HEADER_LENGTH = 112;
/** Largest piece a read stream hands on at once. */
const PIECE = 4 * 1024 * 1024;
const ZEROES = Buffer.alloc(1024 * 1024);

/**
 * Where every cluster of the exported qcow2 lies, computed up front from the chain's allocation map: header,
 * L1 table, refcount table, refcount blocks, L2 tables, then the data clusters in guest order. Any byte of
 * the file can then be produced on demand (HTTP Range) without writing the image anywhere.
 */
class Qcow2Layout {
  /** Allocated guest clusters as runs: first guest cluster, count, rank of the first among data clusters. */
  private readonly runFirst: number[] = [];
  private readonly runCount: number[] = [];
  private readonly runRank: number[] = [];
  /** L1 indices that have an L2 table, ascending; table m lies at cluster l2Start + m. */
  private readonly l2Indices: number[] = [];
  readonly dataClusters: number;
  readonly l1Size: number;
  readonly l1Clusters: number;
  readonly rtStart: number;
  readonly rtClusters: number;
  readonly rbStart: number;
  readonly rbCount: number;
  readonly l2Start: number;
  readonly dataStart: number;
  readonly totalClusters: number;

  private constructor(
    readonly virtualSize: number,
    runs: Array<[number, number]>,
  ) {
    let rank = 0;
    for (const [first, count] of runs) {
      this.runFirst.push(first);
      this.runCount.push(count);
      this.runRank.push(rank);
      rank += count;
      const lastL1 = Math.floor((first + count - 1) / L2_ENTRIES);
      for (let l = Math.floor(first / L2_ENTRIES); l <= lastL1; l++)
        if (this.l2Indices[this.l2Indices.length - 1] !== l) this.l2Indices.push(l);
    }
    this.dataClusters = rank;
    this.l1Size = Math.ceil(Math.ceil(virtualSize / CS) / L2_ENTRIES);
    this.l1Clusters = Math.max(1, Math.ceil((this.l1Size * 8) / CS));
    // The refcount structures count themselves: grow them until they cover every cluster.
    const fixed = 1 + this.l1Clusters + this.l2Indices.length + this.dataClusters;
    let rbCount = 1;
    let rtClusters = 1;
    for (;;) {
      const total = fixed + rtClusters + rbCount;
      const needBlocks = Math.ceil(total / REFCOUNTS_PER_BLOCK);
      const needTable = Math.max(1, Math.ceil((needBlocks * 8) / CS));
      if (needBlocks <= rbCount && needTable <= rtClusters) break;
      rbCount = Math.max(rbCount, needBlocks);
      rtClusters = Math.max(rtClusters, needTable);
    }
    this.rtStart = 1 + this.l1Clusters;
    this.rtClusters = rtClusters;
    this.rbStart = this.rtStart + rtClusters;
    this.rbCount = rbCount;
    this.l2Start = this.rbStart + rbCount;
    this.dataStart = this.l2Start + this.l2Indices.length;
    this.totalClusters = this.dataStart + this.dataClusters;
  }

  /** A layout for the chain: every guest cluster touched by data is allocated, zero ranges are not. */
  static async of(chain: ImageChain): Promise<Qcow2Layout> {
    const runs: Array<[number, number]> = [];
    for await (const e of chain.extents()) {
      if (e.zero) continue;
      const first = Math.floor(e.start / CS);
      const end = Math.ceil((e.start + e.length) / CS);
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] >= first) last[1] = Math.max(last[1], end - last[0]);
      else runs.push([first, end - first]);
    }
    return new Qcow2Layout(chain.virtualSize, runs);
  }

  get size(): number {
    return this.totalClusters * CS;
  }

  /** Rank of guest cluster `g` among the data clusters, or -1 when it is not allocated. */
  rankOf(g: number): number {
    let lo = 0;
    let hi = this.runFirst.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const first = this.runFirst[mid] as number;
      if (g < first) hi = mid - 1;
      else if (g >= first + (this.runCount[mid] as number)) lo = mid + 1;
      else return (this.runRank[mid] as number) + g - first;
    }
    return -1;
  }

  /** The run holding data cluster `rank`: its guest cluster and how many clusters follow contiguously. */
  guestOfRank(rank: number): { guest: number; contiguous: number } {
    let lo = 0;
    let hi = this.runRank.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.runRank[mid] as number) <= rank) lo = mid;
      else hi = mid - 1;
    }
    const off = rank - (this.runRank[lo] as number);
    return { guest: (this.runFirst[lo] as number) + off, contiguous: (this.runCount[lo] as number) - off };
  }

  /** The bytes of metadata cluster `h` (h < dataStart). */
  metadataCluster(h: number): Buffer {
    const buf = Buffer.alloc(CS);
    if (h === 0) {
      buf.writeUInt32BE(QCOW2_MAGIC, 0);
      buf.writeUInt32BE(3, 4);
      buf.writeUInt32BE(CLUSTER_BITS, 20);
      buf.writeBigUInt64BE(BigInt(this.virtualSize), 24);
      buf.writeUInt32BE(this.l1Size, 36);
      buf.writeBigUInt64BE(BigInt(CS), 40);
      buf.writeBigUInt64BE(BigInt(this.rtStart * CS), 48);
      buf.writeUInt32BE(this.rtClusters, 56);
      buf.writeUInt32BE(4, 96); // refcount_order: 16-bit refcounts
      buf.writeUInt32BE(HEADER_LENGTH, 100);
      // Byte 104 compression type 0 (deflate), then the end-of-extensions marker at 112: all zero.
      return buf;
    }
    if (h < this.rtStart) {
      const firstEntry = (h - 1) * L2_ENTRIES;
      let m = lowerBound(this.l2Indices, firstEntry);
      for (; m < this.l2Indices.length; m++) {
        const l = this.l2Indices[m] as number;
        if (l >= firstEntry + L2_ENTRIES || l >= this.l1Size) break;
        buf.writeBigUInt64BE(BigInt((this.l2Start + m) * CS) | COPIED, (l - firstEntry) * 8);
      }
      return buf;
    }
    if (h < this.rbStart) {
      const firstEntry = (h - this.rtStart) * L2_ENTRIES;
      for (let j = firstEntry; j < Math.min(this.rbCount, firstEntry + L2_ENTRIES); j++)
        buf.writeBigUInt64BE(BigInt((this.rbStart + j) * CS), (j - firstEntry) * 8);
      return buf;
    }
    if (h < this.l2Start) {
      const firstCluster = (h - this.rbStart) * REFCOUNTS_PER_BLOCK;
      const n = Math.min(REFCOUNTS_PER_BLOCK, this.totalClusters - firstCluster);
      for (let i = 0; i < n; i++) buf.writeUInt16BE(1, i * 2);
      return buf;
    }
    const l = this.l2Indices[h - this.l2Start] as number;
    const guestClusters = Math.ceil(this.virtualSize / CS);
    for (let e = 0; e < L2_ENTRIES; e++) {
      const g = l * L2_ENTRIES + e;
      if (g >= guestClusters) break;
      const r = this.rankOf(g);
      if (r >= 0) buf.writeBigUInt64BE(BigInt((this.dataStart + r) * CS) | COPIED, e * 8);
    }
    return buf;
  }
}

function lowerBound(a: number[], v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((a[mid] as number) < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Guest bytes [offset, offset + length), zero past the virtual size. */
async function guestBytes(chain: ImageChain, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  await chain.readGuestInto(buf, offset, Math.max(0, Math.min(length, chain.virtualSize - offset)));
  return buf;
}

/** Bytes [start, end) of the qcow2 file laid out by `layout`. */
async function* qcow2Bytes(chain: ImageChain, layout: Qcow2Layout, start: number, end: number) {
  let pos = start;
  while (pos < end) {
    const h = Math.floor(pos / CS);
    const at = pos - h * CS;
    if (h < layout.dataStart) {
      const n = Math.min(CS - at, end - pos);
      yield layout.metadataCluster(h).subarray(at, at + n);
      pos += n;
      continue;
    }
    // A run of data clusters that are contiguous in the guest too: one guest read per piece.
    const { guest, contiguous } = layout.guestOfRank(h - layout.dataStart);
    const n = Math.min(contiguous * CS - at, end - pos, PIECE);
    yield await guestBytes(chain, guest * CS + at, n);
    pos += n;
  }
}

/** Bytes [start, end) of the flattened guest data. */
async function* rawBytes(chain: ImageChain, start: number, end: number) {
  for await (const s of guestSegments(chain, start, end)) {
    if (!s.zero) {
      yield s.data;
      continue;
    }
    for (let left = s.length; left > 0; left -= ZEROES.length)
      yield ZEROES.subarray(0, Math.min(left, ZEROES.length));
  }
}

/**
 * One disk of a restore point as an image a browser can download: `raw` is the flattened chain, `qcow2` a
 * standalone qcow2 (no backing file) of the flattened chain whose every byte is computed on demand from a layout
 * made up front, so any HTTP Range is served without buffering. Chunks are checked as they are read; a bad one
 * fails the stream with a ChunkError.
 */
export async function openDiskImageExport(
  repository: Repository,
  restorePoint: RestorePointManifest,
  diskId: string,
  format: "raw" | "qcow2",
): Promise<DiskImageExport> {
  const disk = pointDisk(pointView(restorePoint), diskId);
  const chain = await openPointChain(repository, disk);
  try {
    const layout = format === "qcow2" ? await Qcow2Layout.of(chain) : undefined;
    const size = layout ? layout.size : chain.virtualSize;
    const base = disk.alias.replace(/[^A-Za-z0-9._-]+/g, "_") || diskId;
    return {
      size,
      contentType: "application/octet-stream",
      fileName: `${base}.${format === "qcow2" ? "qcow2" : "raw"}`,
      read(start, end) {
        if (
          !Number.isSafeInteger(start) ||
          !Number.isSafeInteger(end) ||
          start < 0 ||
          end < start - 1 ||
          end >= size
        )
          throw new RangeError(`range ${start}-${end} is outside the image (${size} bytes)`);
        const gen = layout ? qcow2Bytes(chain, layout, start, end + 1) : rawBytes(chain, start, end + 1);
        return Readable.from(gen, { objectMode: false, highWaterMark: PIECE });
      },
      close: () => chain.close(),
    };
  } catch (e) {
    await chain.close();
    throw e;
  }
}
