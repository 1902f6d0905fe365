import type { RandomAccessSource } from "@lifeboat/disk-image";
import { ImageChain } from "@lifeboat/disk-image";
import type { Repository } from "@lifeboat/repository";
import type { PointDisk } from "./manifest";

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
