import type { RandomAccessSource } from "@lifeboat/disk-image";
import { ImageChain } from "@lifeboat/disk-image";
import type { Repository } from "@lifeboat/repository";
import type { ImageSegment } from "../imageio";
import type { PointDisk } from "./manifest";

/** Guest data is read in pieces of this size. */
const PIECE = 4 * 1024 * 1024;

/** The guest view of a restore point disk: its layers' repository objects composed as a qcow2 chain. */
export async function openPointChain(repository: Repository, disk: PointDisk): Promise<ImageChain> {
  const sources: RandomAccessSource[] = [];
  try {
    for (const l of disk.layers)
      sources.push(await repository.openLayerSource(l.layerId, { cacheChunks: 16 }));
    return await ImageChain.open(
      sources.map((src, i) => {
        const layer = disk.layers[i];
        // The catalog's format, not the first bytes: a raw base may hold anything, the qcow2 magic included.
        return {
          src,
          name: layer?.imageId ?? String(i),
          format: layer?.format === "raw" ? "raw" : "qcow2",
        } as const;
      }),
    );
  } catch (e) {
    await Promise.allSettled(sources.map((s) => s.close()));
    throw e;
  }
}

/**
 * The chain's guest data as ordered segments over [from, to): data read in pieces, zero ranges as zero segments
 * (`hole` where no layer has the range, which an upload to an empty disk may skip).
 */
export async function* guestSegments(
  chain: ImageChain,
  from = 0,
  to = chain.virtualSize,
  signal?: AbortSignal,
): AsyncGenerator<ImageSegment> {
  for await (const ext of chain.extents()) {
    const start = Math.max(from, ext.start);
    const end = Math.min(to, ext.start + ext.length);
    if (ext.start >= to) break;
    if (start >= end) continue;
    if (ext.zero) {
      yield { offset: start, length: end - start, zero: true, hole: ext.hole };
      continue;
    }
    for (let pos = start; pos < end; pos += PIECE) {
      signal?.throwIfAborted();
      const n = Math.min(PIECE, end - pos);
      const data = Buffer.allocUnsafe(n);
      await chain.readGuestInto(data, pos, n);
      yield { offset: pos, data };
    }
  }
}
