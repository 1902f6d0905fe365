import type { DiskFormat, DiskStatus, Loose } from "@lifeboat/ovirt-protocol";
import { z } from "zod";
import { poll, type WaitOptions } from "../wait";
import { type EngineClient, seg } from "./client";
import { EngineError, EngineStateError } from "./errors";
import { type Ref, zBigInt, zBool, zCollection, zEnum, zNested, zRef } from "./json";

export interface Disk {
  id: string;
  name?: string;
  alias?: string;
  description?: string;
  /** The ACTIVE volume's UUID. */
  imageId?: string;
  /** Virtual size, bytes. */
  provisionedSize?: bigint;
  /** Allocated bytes of the active volume. */
  actualSize?: bigint;
  /** Active + all snapshot volumes (4.2+). */
  totalSize?: bigint;
  format?: DiskFormat | (string & {});
  qcowVersion?: string;
  sparse?: boolean;
  status?: Loose<DiskStatus>;
  contentType?: string;
  storageType?: string;
  backup?: string;
  shareable?: boolean;
  storageDomains: Ref[];
}

/** The disk's JSON fields, for entities that extend a disk (a backup's disks). */
export const diskFields = {
  id: z.string().min(1),
  name: z.string().optional(),
  alias: z.string().optional(),
  description: z.string().optional(),
  image_id: z.string().optional(),
  provisioned_size: zBigInt.optional(),
  actual_size: zBigInt.optional(),
  total_size: zBigInt.optional(),
  format: zEnum.optional(),
  qcow_version: zEnum.optional(),
  sparse: zBool.optional(),
  status: zEnum.optional(),
  content_type: zEnum.optional(),
  storage_type: zEnum.optional(),
  backup: zEnum.optional(),
  shareable: zBool.optional(),
  storage_domains: zNested("storage_domain", zRef),
};

type DiskInput = z.output<z.ZodObject<typeof diskFields>>;

export function toDisk(d: DiskInput): Disk {
  return {
    id: d.id,
    name: d.name,
    alias: d.alias ?? d.name,
    description: d.description,
    imageId: d.image_id,
    provisionedSize: d.provisioned_size,
    actualSize: d.actual_size,
    totalSize: d.total_size,
    format: d.format,
    qcowVersion: d.qcow_version,
    sparse: d.sparse,
    status: d.status,
    contentType: d.content_type,
    storageType: d.storage_type,
    backup: d.backup,
    shareable: d.shareable,
    storageDomains: d.storage_domains,
  };
}

export const zDisk = z.object(diskFields).transform(toDisk);
const zDisks = zCollection("disk", zDisk);

/** One volume of a disk's chain (ref §3.5): `id` is the volume (image) UUID. */
export interface DiskSnapshot extends Omit<Disk, "imageId"> {
  /** The owning disk. */
  disk?: Ref;
  /** The VM snapshot that created this volume. */
  snapshot?: Ref;
  /** The previous volume in the chain (4.4.3+; absent for the base). */
  parent?: Ref;
}

const zDiskSnapshot = z
  .object({
    ...diskFields,
    disk: zRef.optional(),
    snapshot: zRef.optional(),
    parent: zRef.optional(),
  })
  .transform((d): DiskSnapshot => {
    const { imageId: _omit, ...disk } = toDisk(d);
    return { ...disk, disk: d.disk, snapshot: d.snapshot, parent: d.parent };
  });
const zDiskSnapshots = zCollection("disk_snapshot", zDiskSnapshot);

export interface DiskAttachment {
  /** Equals the disk id. */
  id: string;
  diskId: string;
  /** The full disk when listed with `follow=disk` (or when the engine inlined it). */
  disk?: Disk;
  vm?: Ref;
  active?: boolean;
  bootable?: boolean;
  interface?: string;
  logicalName?: string;
  readOnly?: boolean;
  passDiscard?: boolean;
  usesScsiReservation?: boolean;
}

const zDiskAttachment = z
  .object({
    id: z.string().min(1).optional(),
    disk: z.looseObject({ id: z.string().min(1) }),
    vm: zRef.optional(),
    active: zBool.optional(),
    bootable: zBool.optional(),
    interface: zEnum.optional(),
    logical_name: z.string().optional(),
    read_only: zBool.optional(),
    pass_discard: zBool.optional(),
    uses_scsi_reservation: zBool.optional(),
  })
  .transform((a, ctx): DiskAttachment => {
    // A link carries only id/href; anything more means the disk was inlined (follow=disk).
    const inlined = Object.keys(a.disk).some((k) => k !== "id" && k !== "href");
    let disk: Disk | undefined;
    if (inlined) {
      const r = zDisk.safeParse(a.disk);
      if (!r.success) {
        for (const issue of r.error.issues)
          ctx.addIssue({ ...issue, path: ["disk", ...issue.path] } as never);
        return z.NEVER;
      }
      disk = r.data;
    }
    return {
      id: a.id ?? a.disk.id,
      diskId: a.disk.id,
      disk,
      vm: a.vm,
      active: a.active,
      bootable: a.bootable,
      interface: a.interface,
      logicalName: a.logical_name,
      readOnly: a.read_only,
      passDiscard: a.pass_discard,
      usesScsiReservation: a.uses_scsi_reservation,
    };
  });
const zDiskAttachments = zCollection("disk_attachment", zDiskAttachment);

export interface AddDiskSpec {
  /** Recreate with the original disk id (4.2+). */
  id?: string;
  /** UUID of the (base) volume to create (4.2+). */
  imageId?: string;
  name?: string;
  description?: string;
  format: DiskFormat;
  sparse: boolean;
  /** Virtual size, bytes. */
  provisionedSize: bigint | number;
  /** Preallocation for sparse cow disks on block storage, bytes. */
  initialSize?: bigint | number;
  storageDomain: { id: string } | { name: string };
  contentType?: string;
  /** `incremental` requires format cow. */
  backup?: "none" | "incremental";
  shareable?: boolean;
  wipeAfterDelete?: boolean;
  correlationId?: string;
}

/** Floating disks: `/disks`. */
export class Disks {
  constructor(private readonly engine: EngineClient) {}

  async get(id: string, opts: { signal?: AbortSignal } = {}): Promise<Disk> {
    return this.engine.get(`/disks/${seg(id)}`, zDisk, opts);
  }

  async list(opts: { search?: string; max?: number; signal?: AbortSignal } = {}): Promise<Disk[]> {
    return this.engine.get("/disks", zDisks, {
      query: { search: opts.search, max: opts.max },
      signal: opts.signal,
    });
  }

  /** Adds a disk (ref §4.3); the answer is usually `locked` — wait with waitOk before a transfer. */
  async add(spec: AddDiskSpec, opts: { signal?: AbortSignal } = {}): Promise<Disk> {
    const body: Record<string, unknown> = {
      format: spec.format,
      sparse: String(spec.sparse),
      provisioned_size: String(spec.provisionedSize),
      storage_domains: { storage_domain: [spec.storageDomain] },
    };
    if (spec.id !== undefined) body.id = spec.id;
    if (spec.imageId !== undefined) body.image_id = spec.imageId;
    if (spec.name !== undefined) body.name = spec.name;
    if (spec.description !== undefined) body.description = spec.description;
    if (spec.initialSize !== undefined) body.initial_size = String(spec.initialSize);
    if (spec.contentType !== undefined) body.content_type = spec.contentType;
    if (spec.backup !== undefined) body.backup = spec.backup;
    if (spec.shareable !== undefined) body.shareable = String(spec.shareable);
    if (spec.wipeAfterDelete !== undefined) body.wipe_after_delete = String(spec.wipeAfterDelete);
    return this.engine.post("/disks", zDisk, {
      body,
      query: { correlation_id: spec.correlationId },
      signal: opts.signal,
    });
  }

  /** Polls until the disk is `ok`; `illegal` or a 404 (the engine removed it) fail the wait. */
  async waitOk(id: string, wait: WaitOptions = {}): Promise<Disk> {
    return poll(
      `disk ${id} to be ok`,
      async () => {
        let disk: Disk;
        try {
          disk = await this.get(id, { signal: wait.signal });
        } catch (e) {
          if (e instanceof EngineError && e.isNotFound)
            throw new EngineStateError("disk", id, "removed", `disk ${id} was removed while waiting for it`);
          throw e;
        }
        if (disk.status === "ok") return { done: true, value: disk };
        if (disk.status === "illegal")
          throw new EngineStateError("disk", id, "illegal", `disk ${disk.alias ?? id} became illegal`);
        return { done: false, state: disk.status };
      },
      { ...wait, defaultTimeoutMs: 30 * 60_000, defaultIntervalMs: this.engine.pollIntervalMs },
    );
  }

  async remove(id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.engine.remove(`/disks/${seg(id)}`, opts);
  }
}

/** A VM's disk attachments: `/vms/{vm}/diskattachments`. */
export class DiskAttachments {
  constructor(private readonly engine: EngineClient) {}

  /** Lists the attachments; with `followDisk` (default) each carries its full disk. */
  async list(
    vmId: string,
    opts: { followDisk?: boolean; signal?: AbortSignal } = {},
  ): Promise<DiskAttachment[]> {
    return this.engine.get(`/vms/${seg(vmId)}/diskattachments`, zDiskAttachments, {
      query: { follow: opts.followDisk === false ? undefined : "disk" },
      signal: opts.signal,
    });
  }

  /** Attaches an existing disk; `active` is always sent (the model leaves its default undefined). */
  async add(
    vmId: string,
    spec: {
      diskId: string;
      interface: string;
      bootable?: boolean;
      active?: boolean;
      readOnly?: boolean;
      passDiscard?: boolean;
    },
    opts: { signal?: AbortSignal } = {},
  ): Promise<DiskAttachment> {
    const body: Record<string, unknown> = {
      disk: { id: spec.diskId },
      interface: spec.interface,
      bootable: String(spec.bootable ?? false),
      active: String(spec.active ?? true),
    };
    if (spec.readOnly !== undefined) body.read_only = String(spec.readOnly);
    if (spec.passDiscard !== undefined) body.pass_discard = String(spec.passDiscard);
    return this.engine.post(`/vms/${seg(vmId)}/diskattachments`, zDiskAttachment, {
      body,
      signal: opts.signal,
    });
  }

  /** Detaches a disk; with `detachOnly: false` the disk is deleted too. */
  async remove(
    vmId: string,
    diskId: string,
    opts: { detachOnly?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    await this.engine.remove(`/vms/${seg(vmId)}/diskattachments/${seg(diskId)}`, {
      query: { detach_only: opts.detachOnly === false ? "false" : undefined },
      signal: opts.signal,
    });
  }
}

/** The volumes of disks: `/disks/{id}/disksnapshots` (4.4.3+) or `/storagedomains/{sd}/disksnapshots`. */
export class DiskSnapshots {
  constructor(private readonly engine: EngineClient) {}

  /**
   * Every volume of one disk, the active one included, in the engine's (arbitrary) order. Engines before 4.4.3
   * answer 404 on the per-disk path: then the disk's storage domain is listed and filtered by disk id.
   */
  async listForDisk(
    diskId: string,
    opts: { storageDomainId?: string; signal?: AbortSignal } = {},
  ): Promise<DiskSnapshot[]> {
    try {
      return await this.engine.get(`/disks/${seg(diskId)}/disksnapshots`, zDiskSnapshots, {
        query: { include_active: "true" },
        signal: opts.signal,
      });
    } catch (e) {
      if (!(e instanceof EngineError && e.isNotFound)) throw e;
    }
    let sdIds: string[];
    if (opts.storageDomainId) sdIds = [opts.storageDomainId];
    else {
      // A missing disk surfaces here as the disk's own 404.
      const disk = await this.engine.disks.get(diskId, opts);
      sdIds = disk.storageDomains.map((s) => s.id);
      if (sdIds.length === 0)
        throw new EngineStateError(
          "disk",
          diskId,
          "no storage domain",
          `disk ${diskId} lists no storage domain`,
        );
    }
    const found: DiskSnapshot[] = [];
    for (const sd of sdIds) {
      const all = await this.listOnStorageDomain(sd, opts);
      found.push(...all.filter((s) => s.disk?.id === diskId));
    }
    return found;
  }

  /** Every volume on a storage domain (expensive on big domains). */
  async listOnStorageDomain(
    storageDomainId: string,
    opts: { includeActive?: boolean; signal?: AbortSignal } = {},
  ): Promise<DiskSnapshot[]> {
    return this.engine.get(`/storagedomains/${seg(storageDomainId)}/disksnapshots`, zDiskSnapshots, {
      query: { include_active: opts.includeActive === false ? undefined : "true" },
      signal: opts.signal,
    });
  }

  async get(storageDomainId: string, id: string, opts: { signal?: AbortSignal } = {}): Promise<DiskSnapshot> {
    return this.engine.get(
      `/storagedomains/${seg(storageDomainId)}/disksnapshots/${seg(id)}`,
      zDiskSnapshot,
      opts,
    );
  }
}
