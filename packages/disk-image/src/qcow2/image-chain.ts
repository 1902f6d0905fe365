import type { RandomAccessSource } from "../io";
import { Qcow2Error } from "./errors";
import { detectImageFormat } from "./header";
import {
  type AllocationExtent,
  type BackingReader,
  checkGuestRange,
  type ImageLayer,
  Qcow2Image,
  RawImage,
} from "./image";

/** One extent in imageio's "zero" context (ref §5.6): `zero` reads as zeroes, `hole` is allocated in no layer. */
export interface ChainExtent {
  start: number;
  length: number;
  zero: boolean;
  hole: boolean;
}

/**
 * Opens one file as a layer. A declared format wins: a raw volume whose guest data happens to begin with the
 * qcow2 magic is still raw (qemu probes the same way only when no format is given). Undeclared, the magic decides.
 */
export async function openImageLayer(
  src: RandomAccessSource,
  name: string,
  format?: "raw" | "qcow2",
): Promise<ImageLayer> {
  const f = format ?? (await detectImageFormat(src));
  return f === "qcow2" ? Qcow2Image.open(src, name) : new RawImage(src, name);
}

/**
 * Guest view of a backing chain, base → top, as qemu reads it: each range comes from the top-most layer that
 * has it allocated (or zero-flagged); a layer smaller than the range reads as zeroes past its own size.
 */
export class ImageChain {
  private constructor(readonly layers: ImageLayer[]) {}

  /**
   * `layers` base → top; the base may be raw, the others must be qcow2. Give `format` where it is known (the
   * engine's or the catalog's word); otherwise each layer is probed. Sources are closed by close().
   */
  static async open(
    layers: Array<{ src: RandomAccessSource; name: string; format?: "raw" | "qcow2" }>,
  ): Promise<ImageChain> {
    if (layers.length === 0) throw new Error("an image chain needs at least one layer");
    const opened: ImageLayer[] = [];
    for (const [i, l] of layers.entries()) {
      const layer = await openImageLayer(l.src, l.name, l.format);
      const lower = opened[i - 1];
      if (layer instanceof Qcow2Image) {
        const { backingFile, backingFormat } = layer.header;
        if (!lower && backingFile !== null)
          throw new Qcow2Error(
            l.name,
            "backing file",
            `names "${backingFile}" but no layer below it was given`,
          );
        if (lower && backingFile === null)
          throw new Qcow2Error(
            l.name,
            "backing file",
            `is not set, yet ${lower.name} was given as its backing layer`,
          );
        if (lower && backingFormat !== null && backingFormat !== lower.format)
          throw new Qcow2Error(
            l.name,
            "backing format",
            `is ${backingFormat} but its backing layer ${lower.name} is ${lower.format}`,
          );
      } else if (lower) {
        throw new Qcow2Error(l.name, "magic", `is a raw image, so it cannot sit on top of ${lower.name}`);
      }
      opened.push(layer);
    }
    return new ImageChain(opened);
  }

  get top(): ImageLayer {
    return this.layers[this.layers.length - 1]!;
  }

  get virtualSize(): number {
    return this.top.virtualSize;
  }

  /** Fills `target[at, at + length)` from layer `index` and below; zeroes where no layer reaches. */
  private async readFrom(
    index: number,
    target: Buffer,
    at: number,
    offset: number,
    length: number,
  ): Promise<void> {
    const layer = this.layers[index];
    const n = layer ? Math.max(0, Math.min(length, layer.virtualSize - offset)) : 0;
    if (n < length) target.fill(0, at + n, at + length);
    if (!layer || n === 0) return;
    const below: BackingReader | null =
      index > 0 ? (t, a, o, l) => this.readFrom(index - 1, t, a, o, l) : null;
    await layer.readInto(target, at, offset, n, below);
  }

  /** Guest bytes; short only past the virtual size. At most MAX_GUEST_READ bytes per call. */
  async readGuest(offset: number, length: number): Promise<Buffer> {
    checkGuestRange(this.top.name, offset, length);
    const out = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.virtualSize - offset)));
    await this.readFrom(this.layers.length - 1, out, 0, offset, out.length);
    return out;
  }

  /** Like readGuest into a caller's buffer (reused across reads); returns the byte count (short past the end). */
  async readGuestInto(target: Buffer, offset: number, length = target.length): Promise<number> {
    checkGuestRange(this.top.name, offset, length);
    const n = Math.max(0, Math.min(length, target.length, this.virtualSize - offset));
    await this.readFrom(this.layers.length - 1, target, 0, offset, n);
    return n;
  }

  /** Extents over [0, virtualSize), merged, in imageio's zero context. Streams: one layer table at a time. */
  async *extents(): AsyncIterable<ChainExtent> {
    const iters = this.layers.map((l) => l.mapAllocation()[Symbol.asyncIterator]());
    const current: Array<AllocationExtent | undefined> = [];
    const at = async (i: number, pos: number): Promise<AllocationExtent> => {
      let e = current[i];
      while (!e || e.start + e.length <= pos) {
        const next = await iters[i]!.next();
        if (next.done) throw new Error(`${this.layers[i]!.name}: allocation map ends before offset ${pos}`);
        e = next.value;
        current[i] = e;
      }
      return e;
    };
    let pending: ChainExtent | null = null;
    let pos = 0;
    const size = this.virtualSize;
    while (pos < size) {
      let end = size;
      let zero = true;
      let hole = true;
      for (let i = this.layers.length - 1; i >= 0; i--) {
        const layer = this.layers[i]!;
        if (pos >= layer.virtualSize) break; // past this layer's end: zeroes, the layers below are not read
        end = Math.min(end, layer.virtualSize);
        const e = await at(i, pos);
        end = Math.min(end, e.start + e.length);
        if (e.kind !== "unallocated") {
          zero = e.kind === "zero";
          hole = false;
          break;
        }
      }
      if (pending && pending.zero === zero && pending.hole === hole) pending.length += end - pos;
      else {
        if (pending) yield pending;
        pending = { start: pos, length: end - pos, zero, hole };
      }
      pos = end;
    }
    if (pending) yield pending;
  }

  /** Closes every layer's source. */
  async close(): Promise<void> {
    const results = await Promise.allSettled(this.layers.map((l) => l.src.close()));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }
}
