import {
  type RestorePointManifest,
  restorePointDiskSchema,
  restorePointLayerSchema,
  restorePointManifestSchema,
} from "@lifeboat/repository";
import { z } from "zod";

/**
 * The restore-point document: the repository's manifest (what its gc and verify need: ids, layers, layer
 * manifests) extended by what the flows write into it, so that a restore needs no catalog. One declaration: the
 * backup flow writes a `RestorePointDocument`, restores read it back through `pointView`, and the catalog's rows
 * are a projection of it. The added fields are optional on read: a manifest written by an older build or by
 * hand may lack them, and the restore falls back on the OVF.
 */
const zLayer = restorePointLayerSchema.extend({
  /** The imageio daemon's `/checksum` of the volume when it was backed up (the reuse rule compares it). */
  imageioChecksum: z.string().optional(),
  /** The VM snapshot that owned the volume, and its description (restores recreate it). */
  snapshotId: z.string().optional(),
  snapshotDescription: z.string().optional(),
  /**
   * `guest`: the disk's guest data as the backup API exports it (format raw, whatever the disk's format),
   * uploaded with `format: raw` into a disk created in the disk's own format. Absent: the volume as it is.
   */
  content: z.enum(["volume", "guest"]).optional(),
});

const zDisk = restorePointDiskSchema.extend({
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
  /** Backup API points: how this disk was read (a disk may be full within an incremental point). */
  mode: z.enum(["full", "incremental"]).optional(),
  /** Bytes read from imageio for this disk (data, not zero runs). */
  transferredBytes: z.number().optional(),
  /** Bytes of the disk this point changed: all of it for a full, the dirty extents for an incremental. */
  changedBytes: z.number().optional(),
});

const zPoint = restorePointManifestSchema.extend({
  vm: z.looseObject({ id: z.string(), name: z.string(), clusterName: z.string().optional() }),
  disks: z.array(zDisk),
  /** How the point was made; absent on points of older builds (snapshot-chain, the only mode then). */
  mode: z.enum(["snapshot-chain", "full", "incremental"]).optional(),
  /** Backup API points: the checkpoint the engine made (its to_checkpoint_id), the next incremental's start. */
  checkpointId: z.string().optional(),
  /** The job (or CLI run) that made it, as named in the engine's snapshot descriptions. */
  jobRef: z.string().optional(),
  /** The temporary snapshot of a snapshot-chain backup, and whether it was kept on the engine. */
  snapshot: z.looseObject({ id: z.string(), kept: z.boolean() }).nullable().optional(),
  transferredBytes: z.number().optional(),
});

/** What the backup flow hands to `Repository.writeRestorePoint` (the repository fills in version and state). */
/** What a restore reads (the rest of the document survives as loose fields): lenient with older manifests. */
const zView = zPoint.pick({ id: true, vm: true, ovf: true, disks: true });

const zDocument = zPoint.omit({ version: true, state: true }).extend({ createdAt: z.string().optional() });
export type RestorePointDocument = z.input<typeof zDocument>;

export type PointLayer = z.infer<typeof zLayer>;
export type PointDisk = z.infer<typeof zDisk>;
export type PointView = z.infer<typeof zView>;

/** The restore point as the flows read it; a manifest that does not fit is an error naming the field. */
export function pointView(point: RestorePointManifest): PointView {
  const r = zView.safeParse(point);
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
