import type { Repository } from "@lifeboat/repository";
import type { KnownLayer } from "./types";

/** Where a backup looks up what it stored of a volume before (see BackupOptions.knownLayer). */
export type KnownLayerLookup = (imageId: string) => Promise<KnownLayer | undefined>;

/**
 * The reuse rule, from the repository itself: the newest layer that a backup of this VM stored for the image id,
 * with the imageio daemon's checksum of the volume at the time (a layer without one cannot be compared, so it is
 * never offered). The layer manifests are read once, on first use. The flow still reuses a layer only when the
 * daemon's checksum of the volume now matches.
 */
export function storedLayers(repository: Repository, vmId: string): KnownLayerLookup {
  let index: Promise<Map<string, KnownLayer>> | undefined;
  const build = async () => {
    const map = new Map<string, KnownLayer>();
    // findLayers lists newest first: the first layer seen for an image id wins.
    for (const m of await repository.findLayers({})) {
      const meta = m.meta as { imageId?: unknown; imageioChecksum?: unknown; vmId?: unknown };
      if (meta.vmId !== vmId || typeof meta.imageId !== "string") continue;
      if (typeof meta.imageioChecksum !== "string" || map.has(meta.imageId)) continue;
      map.set(meta.imageId, {
        layerId: m.id,
        sha256: m.sha256,
        size: m.size,
        imageioChecksum: meta.imageioChecksum,
      });
    }
    return map;
  };
  return async (imageId) => {
    index ??= build();
    return (await index).get(imageId);
  };
}

/** The first source that knows the volume: e.g. the repository (which holds what a dead attempt stored), then the catalog. */
export function firstKnown(...lookups: KnownLayerLookup[]): KnownLayerLookup {
  return async (imageId) => {
    for (const lookup of lookups) {
      const known = await lookup(imageId);
      if (known) return known;
    }
    return undefined;
  };
}
