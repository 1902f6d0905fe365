import { GuestChain } from "@lifeboat/disk-image";
import type { DiskFormat } from "@lifeboat/ovirt-protocol";

/** One volume of a disk's chain as the simulator stores it. */
export interface VolumeLayer {
  id: string;
  path: string;
  format: DiskFormat;
}

/** Opens the writer's view of a disk's volume chain (base → top); oVirt's `cow` volumes are qcow2 files. */
export function openVolumeChain(
  layers: readonly VolumeLayer[],
  opts: { shallow?: boolean; writable?: boolean } = {},
): Promise<GuestChain> {
  return GuestChain.open(
    layers.map((l) => ({ path: l.path, format: l.format === "cow" ? "qcow2" : "raw" })),
    opts,
  );
}
