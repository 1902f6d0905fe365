import type { Db, Prisma, Vm } from "@lifeboat/db";
import type { BackupApiResult, BackupResult, KnownLayer, PreviousBackupPoint } from "@lifeboat/ovirt-core";
import { z } from "zod";
import type { Actor } from "./context";
import { AppError } from "./errors";
import { recomputeVmTeamsIn, restorePointWhere } from "./vm-ownership";

const MiB = 1024 * 1024;

/**
 * What the catalog search matches for a restore point: VM name, disk aliases, description, tags and OVF facts
 * (OS, cluster, NIC count), lower case. Bounded, like every free-text column.
 */
export function restorePointSearchText(p: {
  vmName: string;
  diskAliases: string[];
  description?: string | null;
  tags?: string[];
  osType?: string | null;
  clusterName?: string | null;
  nicCount?: number;
}): string {
  const parts = [
    p.vmName,
    ...p.diskAliases,
    p.description,
    ...(p.tags ?? []),
    p.osType ? `os:${p.osType}` : null,
    p.clusterName ? `cluster:${p.clusterName}` : null,
    p.nicCount !== undefined ? `nics:${p.nicCount}` : null,
  ];
  return parts
    .filter((x): x is string => !!x && x.trim() !== "")
    .join(" ")
    .toLowerCase()
    .slice(0, 4000);
}

/**
 * `knownLayer` for a backup flow from the catalog: the newest layer with that image id in a complete restore
 * point of the same engine, with the imageio checksum it had then (a layer without one cannot be compared).
 */
export function knownLayerFromCatalog(
  db: Db,
  engineId: string,
): (imageId: string) => Promise<KnownLayer | undefined> {
  return async (imageId) => {
    const layer = await db.layer.findFirst({
      where: {
        imageId,
        imageioChecksum: { not: null },
        disk: { restorePoint: { engineId, state: "complete" } },
      },
      orderBy: [{ disk: { restorePoint: { createdAt: "desc" } } }, { id: "asc" }],
    });
    if (!layer?.imageioChecksum) return undefined;
    return {
      layerId: layer.manifestId,
      sha256: layer.sha256,
      size: Number(layer.size),
      imageioChecksum: layer.imageioChecksum,
    };
  };
}

/**
 * What an incremental through the backup API starts from, from the catalog: the VM's newest complete restore
 * point with a checkpoint (recorded only with its point, so the data it depends on is durable), and per disk its
 * one guest-data layer. Whether the engine still has the checkpoint is the flow's check.
 */
export async function previousBackupPointFromCatalog(
  db: Db,
  vmId: string,
): Promise<PreviousBackupPoint | undefined> {
  const point = await db.restorePoint.findFirst({
    where: { vmId, state: "complete", toCheckpointId: { not: null } },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    include: { disks: { include: { layers: true } } },
  });
  if (!point?.toCheckpointId) return undefined;
  return {
    restorePointId: point.id,
    checkpointId: point.toCheckpointId,
    async layer(diskId) {
      const disk = point.disks.find((d) => d.diskId === diskId);
      // Only a backup-API disk holds guest data in one layer; a volume chain is no base for dirty extents.
      const only =
        disk && disk.backupMode !== "snapshot-chain" && disk.layers.length === 1 ? disk.layers[0] : undefined;
      return only ? { layerId: only.manifestId, sha256: only.sha256, size: Number(only.size) } : undefined;
    },
  };
}

export interface RecordBackupInput {
  /** The catalog VM the job backed up. */
  vm: Vm;
  /** A snapshot-chain backup (`backupVm`) or one through the engine's backup API (`backupVmWithBackupApi`). */
  result: BackupResult | BackupApiResult;
  jobId: string;
  policyId?: string | null;
  description: string;
  tags: string[];
}

/**
 * Records a finished backup in ONE transaction (the caller's): the VM's inventory row refreshed from what the
 * backup saw, then the restore point with its disks and layers. Nothing of it is visible before the
 * transaction commits, so the catalog never shows a half-written restore point.
 */
export async function recordBackup(tx: Prisma.TransactionClient, input: RecordBackupInput): Promise<string> {
  const { vm, result } = input;
  const facts = result.vm;
  await tx.vm.upsert({
    where: { engineId_vmId: { engineId: vm.engineId, vmId: facts.id } },
    update: {
      name: facts.name,
      osType: facts.osType ?? null,
      clusterName: facts.clusterName ?? null,
      memoryBytes: facts.memoryMiB !== undefined ? BigInt(facts.memoryMiB) * BigInt(MiB) : null,
      diskCount: result.disks.length,
      lastSeenAt: new Date(),
      goneAt: null,
    },
    create: {
      engineId: vm.engineId,
      vmId: facts.id,
      name: facts.name,
      osType: facts.osType ?? null,
      clusterName: facts.clusterName ?? null,
      memoryBytes: facts.memoryMiB !== undefined ? BigInt(facts.memoryMiB) * BigInt(MiB) : null,
      diskCount: result.disks.length,
    },
  });
  // A renamed VM may now match other teams' name patterns.
  if (facts.name !== vm.name) await recomputeVmTeamsIn(tx, { engineId: vm.engineId });

  const point = result.restorePoint;
  const layers = result.disks.flatMap((d) => d.layers);
  const api = "backupId" in result ? result : undefined;
  const snapshot = "snapshot" in result ? result.snapshot : undefined;
  await tx.restorePoint.create({
    data: {
      id: point.id,
      vmId: vm.id,
      engineId: vm.engineId,
      vmName: facts.name,
      createdAt: new Date(point.createdAt),
      kind: api ? "incremental" : "snapshot-chain",
      backupMode: api ? api.mode : "snapshot-chain",
      // The checkpoint becomes the next incremental's start only with this row, in the job's success transaction.
      toCheckpointId: api?.checkpointId ?? null,
      fromCheckpointId: api?.fromCheckpointId ?? null,
      state: "complete",
      virtualBytes: BigInt(result.disks.reduce((s, d) => s + d.provisionedSize, 0)),
      logicalBytes: BigInt(layers.reduce((s, l) => s + l.size, 0)),
      newStoredBytes: BigInt(result.newStoredBytes),
      transferredBytes: BigInt(result.transferredBytes),
      ovf: result.ovf,
      osType: facts.osType ?? null,
      nicCount: facts.nicCount,
      memoryMiB: facts.memoryMiB ?? null,
      cpuCount: facts.cpuCount ?? null,
      clusterName: facts.clusterName ?? null,
      description: input.description,
      tags: input.tags,
      snapshotKept: snapshot?.kept ?? false,
      snapshotId: snapshot?.kept ? snapshot.id : null,
      manifestId: point.id,
      jobId: input.jobId,
      policyId: input.policyId ?? null,
      searchText: restorePointSearchText({
        vmName: facts.name,
        diskAliases: result.disks.map((d) => d.alias),
        description: input.description,
        tags: input.tags,
        osType: facts.osType,
        clusterName: facts.clusterName,
        nicCount: facts.nicCount,
      }),
      disks: {
        create: result.disks.map((d, position) => ({
          backupMode: "mode" in d ? d.mode : "snapshot-chain",
          transferredBytes: "transferredBytes" in d ? BigInt(d.transferredBytes) : null,
          changedBytes: "changedBytes" in d ? BigInt(d.changedBytes) : null,
          diskId: d.diskId,
          alias: d.alias,
          interface: d.interface ?? null,
          bootable: d.bootable,
          provisionedSize: BigInt(d.provisionedSize),
          format: d.format,
          storageDomainId: d.storageDomain?.id ?? null,
          storageDomainName: d.storageDomain?.name ?? null,
          position,
          layers: {
            create: d.layers.map((l, i) => ({
              position: i,
              imageId: l.imageId,
              parentImageId: l.parentImageId,
              format: l.format,
              virtualSize: BigInt(l.virtualSize),
              size: BigInt(l.size),
              sha256: l.sha256,
              manifestId: l.layerId,
              snapshotId: l.snapshotId ?? null,
              reused: l.reused,
              imageioChecksum: l.imageioChecksum ?? null,
            })),
          },
        })),
      },
    },
  });
  return point.id;
}

export const restorePointLayerView = z.object({
  position: z.number(),
  imageId: z.string(),
  parentImageId: z.string().nullable(),
  format: z.string(),
  virtualSize: z.number(),
  size: z.number(),
  sha256: z.string(),
  reused: z.boolean(),
  snapshotId: z.string().nullable(),
});

export const restorePointDiskView = z.object({
  id: z.string(),
  diskId: z.string(),
  alias: z.string(),
  interface: z.string().nullable(),
  bootable: z.boolean(),
  provisionedSize: z.number(),
  format: z.string(),
  storageDomainId: z.string().nullable(),
  storageDomainName: z.string().nullable(),
  /** full | incremental (engine backup API) | snapshot-chain. */
  backupMode: z.string(),
  /** Bytes of guest data read from imageio for this disk (null: the snapshot chain does not count per disk). */
  transferredBytes: z.number().nullable(),
  /** Bytes the engine reported changed: the dirty extents, the whole disk for a full (null: snapshot chain). */
  changedBytes: z.number().nullable(),
  /** Base first. */
  layers: z.array(restorePointLayerView),
});

export const restorePointDetailView = z.object({
  id: z.string(),
  vmId: z.string(),
  engineId: z.string(),
  engineName: z.string(),
  vmName: z.string(),
  createdAt: z.date(),
  kind: z.string(),
  /** full | incremental (engine backup API) | snapshot-chain. */
  backupMode: z.string(),
  /** The engine checkpoint this point ends at (backup API): the next incremental starts from it. */
  toCheckpointId: z.string().nullable(),
  /** The checkpoint an incremental started from (null for full and snapshot-chain points). */
  fromCheckpointId: z.string().nullable(),
  state: z.string(),
  virtualBytes: z.number(),
  logicalBytes: z.number(),
  newStoredBytes: z.number(),
  transferredBytes: z.number(),
  description: z.string(),
  tags: z.array(z.string()),
  pinned: z.boolean(),
  verifyState: z.string(),
  verifiedAt: z.date().nullable(),
  verifyError: z.string().nullable(),
  snapshotKept: z.boolean(),
  snapshotId: z.string().nullable(),
  jobId: z.string().nullable(),
  policyId: z.string().nullable(),
  /** What the OVF said about the VM. */
  facts: z.object({
    osType: z.string().nullable(),
    clusterName: z.string().nullable(),
    nicCount: z.number(),
    memoryMiB: z.number().nullable(),
    cpuCount: z.number().nullable(),
  }),
  disks: z.array(restorePointDiskView),
});
export type RestorePointDetail = z.infer<typeof restorePointDetailView>;

/** One restore point with its disks and layer chains, if the actor may see its VM (else NOT_FOUND). */
export async function restorePointDetail(db: Db, actor: Actor, id: string): Promise<RestorePointDetail> {
  const rp = await db.restorePoint.findFirst({
    where: { AND: [{ id }, restorePointWhere(actor)] },
    include: {
      disks: { orderBy: { position: "asc" }, include: { layers: { orderBy: { position: "asc" } } } },
    },
  });
  if (!rp) throw new AppError("NOT_FOUND", "No such restore point (or it belongs to another team).");
  const engine = await db.engine.findUnique({ where: { id: rp.engineId }, select: { name: true } });
  return {
    id: rp.id,
    vmId: rp.vmId,
    engineId: rp.engineId,
    engineName: engine?.name ?? "(engine removed)",
    vmName: rp.vmName,
    createdAt: rp.createdAt,
    kind: rp.kind,
    backupMode: rp.backupMode,
    toCheckpointId: rp.toCheckpointId,
    fromCheckpointId: rp.fromCheckpointId,
    state: rp.state,
    virtualBytes: Number(rp.virtualBytes),
    logicalBytes: Number(rp.logicalBytes),
    newStoredBytes: Number(rp.newStoredBytes),
    transferredBytes: Number(rp.transferredBytes),
    description: rp.description,
    tags: rp.tags,
    pinned: rp.pinned,
    verifyState: rp.verifyState,
    verifiedAt: rp.verifiedAt,
    verifyError: rp.verifyError,
    snapshotKept: rp.snapshotKept,
    snapshotId: rp.snapshotId,
    jobId: rp.jobId,
    policyId: rp.policyId,
    facts: {
      osType: rp.osType,
      clusterName: rp.clusterName,
      nicCount: rp.nicCount,
      memoryMiB: rp.memoryMiB,
      cpuCount: rp.cpuCount,
    },
    disks: rp.disks.map((d) => ({
      id: d.id,
      diskId: d.diskId,
      alias: d.alias,
      interface: d.interface,
      bootable: d.bootable,
      provisionedSize: Number(d.provisionedSize),
      format: d.format,
      storageDomainId: d.storageDomainId,
      storageDomainName: d.storageDomainName,
      backupMode: d.backupMode,
      transferredBytes: d.transferredBytes === null ? null : Number(d.transferredBytes),
      changedBytes: d.changedBytes === null ? null : Number(d.changedBytes),
      layers: d.layers.map((l) => ({
        position: l.position,
        imageId: l.imageId,
        parentImageId: l.parentImageId,
        format: l.format,
        virtualSize: Number(l.virtualSize),
        size: Number(l.size),
        sha256: l.sha256,
        reused: l.reused,
        snapshotId: l.snapshotId,
      })),
    })),
  };
}

/** A restore point a restore can start from: visible to the actor, complete, and not known to be damaged. */
export async function restorableRestorePoint(db: Db, actor: Actor, id: string) {
  const rp = await db.restorePoint.findFirst({
    where: { AND: [{ id }, restorePointWhere(actor)] },
    include: { disks: { orderBy: { position: "asc" } } },
  });
  if (!rp) throw new AppError("NOT_FOUND", "No such restore point (or it belongs to another team).");
  assertRestorable(rp);
  return rp;
}

/** Refuses a restore point that is not complete or failed its last verification, in words an operator acts on. */
export function assertRestorable(rp: {
  id: string;
  state: string;
  verifyState: string;
  verifyError: string | null;
  verifiedAt: Date | null;
}): void {
  if (rp.state !== "complete")
    throw new AppError(
      "PRECONDITION_FAILED",
      `Restore point ${rp.id} is ${rp.state}: it cannot be restored.`,
    );
  if (rp.verifyState === "failed")
    throw new AppError(
      "PRECONDITION_FAILED",
      `Restore point ${rp.id} failed verification${rp.verifiedAt ? ` on ${rp.verifiedAt.toISOString()}` : ""}: ${rp.verifyError ?? "damaged data"}. It cannot be restored; choose another restore point.`,
    );
}
