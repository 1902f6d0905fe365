import {
  type ChainExtent,
  ImageChain,
  type ImageLayer,
  openFileSource,
  openImageLayer,
  type RandomAccessSource,
} from "@lifeboat/disk-image";
import type { ImageioExtent } from "@lifeboat/ovirt-protocol";
import type { VolumeLayer } from "./chain";

/** Read-only guest view of a volume chain, as qemu-nbd exports it for imageio's NBD backend. */
export interface GuestView {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
  /** Zero-context extents over [0, size), merged. */
  extents(): Promise<ImageioExtent[]>;
  close(): Promise<void>;
}

/** The reader reads at most 64 MiB per call. */
const READ_PIECE = 32 * 1024 * 1024;

function push(out: ImageioExtent[], e: ChainExtent): void {
  const last = out[out.length - 1];
  if (last && last.zero === e.zero && last.hole === e.hole && last.start + last.length === e.start)
    last.length += e.length;
  else out.push({ start: e.start, length: e.length, zero: e.zero, hole: e.hole });
}

/**
 * Opens the guest view with disk-image's reader: the whole chain base → top, or with `shallow` the top
 * volume alone, whose unallocated areas read as zeroes and are reported as holes.
 */
export async function openGuestView(
  layers: VolumeLayer[],
  opts: { shallow?: boolean } = {},
): Promise<GuestView> {
  const use = opts.shallow ? layers.slice(-1) : layers;
  const sources: RandomAccessSource[] = [];
  try {
    for (const l of use) sources.push(await openFileSource(l.path));
    if (opts.shallow) {
      const layer: ImageLayer = await openImageLayer(
        sources[0] as RandomAccessSource,
        use[0]?.id ?? "volume",
      );
      return {
        size: layer.virtualSize,
        async read(offset, length) {
          const n = Math.max(0, Math.min(length, layer.virtualSize - offset));
          const buf = Buffer.alloc(length);
          if (n > 0) await layer.readInto(buf, 0, offset, n, null);
          return buf;
        },
        async extents() {
          const out: ImageioExtent[] = [];
          for await (const a of layer.mapAllocation())
            push(out, {
              start: a.start,
              length: a.length,
              zero: a.kind !== "data",
              hole: a.kind === "unallocated",
            });
          return out;
        },
        close: () => layer.src.close(),
      };
    }
    const chain = await ImageChain.open(
      use.map((l, i) => ({ src: sources[i] as RandomAccessSource, name: l.id })),
    );
    return {
      size: chain.virtualSize,
      async read(offset, length) {
        const buf = Buffer.alloc(length);
        for (let done = 0; done < length; done += READ_PIECE) {
          const n = Math.min(READ_PIECE, length - done);
          if (offset + done >= chain.virtualSize) break;
          await chain.readGuestInto(buf.subarray(done, done + n), offset + done, n);
        }
        return buf;
      },
      async extents() {
        const out: ImageioExtent[] = [];
        for await (const e of chain.extents()) push(out, e);
        return out;
      },
      close: () => chain.close(),
    };
  } catch (e) {
    await Promise.allSettled(sources.map((s) => s.close()));
    throw e;
  }
}
