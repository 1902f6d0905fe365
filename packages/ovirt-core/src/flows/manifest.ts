import type { RestorePointManifest } from "@lifeboat/repository";
import { z } from "zod";

/**
 * What the flows add to the repository's restore point manifest (its objects are loose, so the repository
 * keeps these fields): enough to restore without the catalog. Read back leniently: a manifest written by an
 * older build or by hand may lack them, and the restore falls back on the OVF.
 */
const zLayer = z.looseObject({
  imageId: z.string(),
  parentImageId: z.string().nullable(),
  format: z.enum(["raw", "cow"]),
  virtualSize: z.number(),
  layerId: z.string(),
  sha256: z.string(),
  size: z.number(),
  imageioChecksum: z.string().optional(),
  /** The VM snapshot that owned the volume, and its description (restores recreate it). */
  snapshotId: z.string().optional(),
  snapshotDescription: z.string().optional(),
});

const zDisk = z.looseObject({
  diskId: z.string(),
  alias: z.string(),
  description: z.string().optional(),
  interface: z.string().optional(),
  bootable: z.boolean().optional(),
  active: z.boolean().optional(),
  readOnly: z.boolean().optional(),
  passDiscard: z.boolean().optional(),
  provisionedSize: z.number().optional(),
  format: z.enum(["raw", "cow"]).optional(),
  sparse: z.boolean().optional(),
  wipeAfterDelete: z.boolean().optional(),
  storageDomain: z.looseObject({ id: z.string(), name: z.string().optional() }).optional(),
  layers: z.array(zLayer).min(1),
});

const zPoint = z.looseObject({
  id: z.string(),
  vm: z.looseObject({ id: z.string(), name: z.string(), clusterName: z.string().optional() }),
  ovf: z.string(),
  disks: z.array(zDisk),
});

export type PointLayer = z.infer<typeof zLayer>;
export type PointDisk = z.infer<typeof zDisk>;
export type PointView = z.infer<typeof zPoint>;

/** The restore point as the flows read it; a manifest that does not fit is an error naming the field. */
export function pointView(point: RestorePointManifest): PointView {
  const r = zPoint.safeParse(point);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new Error(
    `restore point ${point.id} cannot be restored: ${issue?.path.join(".") || "manifest"}: ${issue?.message}`,
  );
}

/** One disk of a restore point, by its id in the point. */
export function pointDisk(view: PointView, diskId: string): PointDisk {
  const d = view.disks.find((x) => x.diskId === diskId);
  if (!d) throw new Error(`restore point ${view.id} has no disk ${diskId}`);
  return d;
}

/** The virtual size of a disk: as recorded, else the largest of its layers (a disk only grows). */
export function diskVirtualSize(d: PointDisk): number {
  return d.provisionedSize ?? Math.max(...d.layers.map((l) => l.virtualSize));
}
