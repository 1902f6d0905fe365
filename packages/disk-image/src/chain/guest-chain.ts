import { type FileHandle, open } from "node:fs/promises";
import { Qcow2Volume } from "../qcow2/volume";
import { ChainError } from "./compose";

/** One image file of a chain, as the writer opens it. */
export interface ChainFile {
  path: string;
  format: "qcow2" | "raw";
}

type OpenLayer =
  | { kind: "raw"; fh: FileHandle; size: number; path: string }
  | { kind: "qcow2"; vol: Qcow2Volume };

function layerSize(l: OpenLayer): number {
  return l.kind === "raw" ? l.size : l.vol.size;
}

/**
 * The writer's view of a volume chain (base→top): guest writes and zeroing go to the top volume in whole
 * clusters; partial clusters are completed from the chain below (copy-on-write), so the writer reads the
 * chain through the same metadata it updates. Read-only guest access (NBD exports, extents, verification)
 * goes through the reader instead (ImageChain).
 */
export class GuestChain {
  private constructor(
    private readonly layers: OpenLayer[],
    private readonly shallow: boolean,
  ) {}

  static async open(
    chain: readonly ChainFile[],
    opts: { shallow?: boolean; writable?: boolean } = {},
  ): Promise<GuestChain> {
    if (chain.length === 0) throw new ChainError("empty volume chain");
    const use = opts.shallow ? chain.slice(-1) : chain;
    const opened: OpenLayer[] = [];
    try {
      for (let i = 0; i < use.length; i++) {
        const layer = use[i] as ChainFile;
        const writable = (opts.writable ?? false) && i === use.length - 1;
        opened.push(await openLayer(layer, writable));
      }
    } catch (e) {
      await Promise.all(opened.map(closeLayer));
      throw e;
    }
    return new GuestChain(opened, opts.shallow ?? false);
  }

  get size(): number {
    return layerSize(this.top);
  }

  private get top(): OpenLayer {
    return this.layers[this.layers.length - 1] as OpenLayer;
  }

  async close(): Promise<void> {
    await Promise.all(this.layers.map(closeLayer));
  }

  /** Guest bytes [offset, offset+length); past the virtual size reads zeroes. */
  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    await this.readLayer(this.layers.length - 1, offset, length, out, 0);
    return out;
  }

  private async readLayer(
    i: number,
    offset: number,
    length: number,
    out: Buffer,
    outOff: number,
  ): Promise<void> {
    const l = this.layers[i] as OpenLayer;
    const size = layerSize(l);
    if (offset >= size || length <= 0) return;
    const len = Math.min(length, size - offset);
    if (l.kind === "raw") {
      await l.fh.read(out, outOff, len, offset);
      return;
    }
    const vol = l.vol;
    const cs = vol.clusterSize;
    let pos = offset;
    const end = offset + len;
    while (pos < end) {
      const gc = Math.floor(pos / cs);
      const e = await vol.entry(gc);
      // Extend the run over following clusters with the same treatment.
      let runEnd = Math.min(end, (gc + 1) * cs);
      if (e.kind === "data" || e.kind === "unallocated" || e.kind === "zero") {
        let next = gc + 1;
        while (runEnd < end) {
          const n = await vol.entry(next);
          if (n.kind !== e.kind) break;
          if (e.kind === "data" && n.kind === "data" && n.host !== e.host + (next - gc) * cs) break;
          runEnd = Math.min(end, (next + 1) * cs);
          next++;
        }
      }
      const runLen = runEnd - pos;
      const o = outOff + (pos - offset);
      if (e.kind === "data") {
        const buf = await vol.readHost(e.host + (pos - gc * cs), runLen);
        buf.copy(out, o);
      } else if (e.kind === "compressed") {
        const c = await vol.readCluster(e);
        c.copy(out, o, pos - gc * cs, pos - gc * cs + runLen);
      } else if (e.kind === "unallocated" && i > 0 && !this.shallow) {
        await this.readLayer(i - 1, pos, runLen, out, o);
      }
      pos = runEnd;
    }
  }

  // ---- writes to the top volume ----

  /** Writes guest data at any offset; partial clusters are completed from the chain (copy-on-write). */
  async write(offset: number, data: Buffer): Promise<void> {
    const top = this.top;
    if (offset < 0 || offset + data.length > this.size)
      throw new RangeError(
        `write of ${data.length} bytes at ${offset} exceeds the virtual size ${this.size}`,
      );
    if (data.length === 0) return;
    if (top.kind === "raw") {
      await top.fh.write(data, 0, data.length, offset);
      return;
    }
    const cs = top.vol.clusterSize;
    const end = offset + data.length;
    let pos = offset;
    while (pos < end) {
      const gc = Math.floor(pos / cs);
      const cStart = gc * cs;
      if (pos === cStart && end - pos >= cs) {
        // Whole clusters: write up to 8 MiB at a time straight from the caller's buffer.
        const n = Math.min(Math.floor((end - pos) / cs), Math.max(1, (8 * 1024 * 1024) / cs));
        await top.vol.writeClusters(gc, data.subarray(pos - offset, pos - offset + n * cs));
        pos += n * cs;
        continue;
      }
      const cur = await this.read(cStart, cs);
      const from = pos - cStart;
      const take = Math.min(cs - from, end - pos);
      data.copy(cur, from, pos - offset, pos - offset + take);
      await top.vol.writeClusters(gc, cur);
      pos += take;
    }
  }

  /** Makes a guest range read as zeroes (zero flag for whole clusters of a qcow2 top volume). */
  async zero(offset: number, length: number): Promise<void> {
    const top = this.top;
    if (offset < 0 || offset + length > this.size)
      throw new RangeError(`zero of ${length} bytes at ${offset} exceeds the virtual size ${this.size}`);
    if (length === 0) return;
    if (top.kind === "raw") {
      await zeroRaw(top.fh, offset, length);
      return;
    }
    const cs = top.vol.clusterSize;
    const end = offset + length;
    const firstWhole = Math.ceil(offset / cs);
    const lastWhole = Math.floor(end / cs); // exclusive
    // A trailing partial cluster that ends at the virtual size counts as whole.
    const endWhole = end === this.size ? Math.ceil(end / cs) : lastWhole;
    if (firstWhole >= endWhole) {
      await this.write(offset, Buffer.alloc(length));
      return;
    }
    if (offset < firstWhole * cs) await this.write(offset, Buffer.alloc(firstWhole * cs - offset));
    await top.vol.zeroClusters(firstWhole, endWhole - firstWhole);
    if (endWhole === lastWhole && end > lastWhole * cs)
      await this.write(lastWhole * cs, Buffer.alloc(end - lastWhole * cs));
  }

  async flush(): Promise<void> {
    const top = this.top;
    if (top.kind === "raw") await top.fh.sync();
    else await top.vol.flush();
  }
}

async function openLayer(layer: ChainFile, writable: boolean): Promise<OpenLayer> {
  if (layer.format === "qcow2")
    return { kind: "qcow2", vol: await Qcow2Volume.open(layer.path, { writable }) };
  const fh = await open(layer.path, writable ? "r+" : "r");
  const st = await fh.stat();
  return { kind: "raw", fh, size: st.size, path: layer.path };
}

async function closeLayer(l: OpenLayer): Promise<void> {
  if (l.kind === "raw") await l.fh.close();
  else await l.vol.close();
}

/** Writes zeroes into a raw file; the part past the current end of file is only a size change. */
export async function zeroRaw(fh: FileHandle, offset: number, length: number): Promise<void> {
  const st = await fh.stat();
  const end = offset + length;
  const writeEnd = Math.min(end, st.size);
  const zeros = Buffer.alloc(Math.min(4 * 1024 * 1024, Math.max(0, writeEnd - offset)));
  for (let pos = offset; pos < writeEnd; pos += zeros.length) {
    await fh.write(zeros, 0, Math.min(zeros.length, writeEnd - pos), pos);
  }
  if (end > st.size) await fh.truncate(end);
}
