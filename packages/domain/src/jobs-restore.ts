import type { Db, RestorePoint } from "@lifeboat/db";
import type { JobQueue } from "@lifeboat/jobs";
import { type JobInput, jobInputs } from "@lifeboat/jobs";
import { EngineError } from "@lifeboat/ovirt-core";
import { z } from "zod";
import { approvalRequired, registerApprovalExecutor, requestApproval } from "./approvals";
import { assertRestorable, restorableRestorePoint } from "./catalog";
import type { Actor, ServiceContext } from "./context";
import { engineAppError, withEngine } from "./engines";
import { AppError } from "./errors";
import { actingTeamForVm, restorePointWhere } from "./vm-ownership";

const restoreVmJob = jobInputs["restore.vm"];
const restoreDiskJob = jobInputs["restore.disk"];

/** A restore as the API takes it (restores.start). */
export const restoreVmRequest = z.object({
  restorePointId: z.string().min(1).max(100),
  /** The engine to restore to: another site's engine for disaster recovery (default: the point's own). */
  engineId: restoreVmJob.shape.engineId,
  /** Name of the VM to create. */
  name: restoreVmJob.shape.name,
  cluster: restoreVmJob.shape.cluster,
  storageDomain: restoreVmJob.shape.storageDomain,
  identity: restoreVmJob.shape.identity,
  /**
   * When a VM with that name exists (or the original is targeted while it exists): replace it. Such a restore
   * always waits for another approver's approval; without this flag it is refused.
   */
  replaceExisting: z.boolean().default(false),
  /** Why (required when the restore needs an approval). */
  reason: z.string().max(2000).optional(),
  /** The team the restore acts for (default: the first of the caller's teams that own the VM). */
  teamId: z.string().max(100).optional(),
});
export type RestoreVmRequest = z.input<typeof restoreVmRequest>;

export const restoreDiskRequest = z.object({
  restorePointId: z.string().min(1).max(100),
  engineId: restoreDiskJob.shape.engineId,
  diskId: restoreDiskJob.shape.diskId,
  alias: restoreDiskJob.shape.alias,
  storageDomain: restoreDiskJob.shape.storageDomain,
  format: restoreDiskJob.shape.format,
  reason: z.string().max(2000).optional(),
  teamId: z.string().max(100).optional(),
});
export type RestoreDiskRequest = z.input<typeof restoreDiskRequest>;

export const restoreTargetCheck = z.object({
  name: z.string(),
  /** No VM on the engine has that name. */
  available: z.boolean(),
  /** The VM that has the name, if any; `isOriginal` when it is the backed-up VM itself. */
  existingVm: z.object({ id: z.string(), name: z.string(), isOriginal: z.boolean() }).nullable(),
  /** The backed-up VM still exists on its engine. */
  originalExists: z.boolean(),
  /** The restore would have to wait for another approver (and what it would replace). */
  approvalRequired: z.boolean(),
  /** Why, in words (empty when none is needed). */
  why: z.array(z.string()),
  /** The engine VM a restore with `replaceExisting` would remove first. */
  replaces: z.object({ id: z.string(), name: z.string() }).nullable(),
});
export type RestoreTargetCheck = z.infer<typeof restoreTargetCheck>;

export const restoreStarted = z.discriminatedUnion("status", [
  z.object({ status: z.literal("queued"), jobId: z.string() }),
  z.object({
    status: z.literal("pending-approval"),
    approvalRequestId: z.string(),
    expiresAt: z.date(),
    why: z.array(z.string()),
  }),
]);
export type RestoreStarted = z.infer<typeof restoreStarted>;

type PointWithVm = RestorePoint & {
  vm: { vmId: string; name: string };
  disks: Array<{ id: string; diskId: string; alias: string }>;
};

async function pointForRestore(db: Db, actor: Actor, restorePointId: string): Promise<PointWithVm> {
  const rp = await restorableRestorePoint(db, actor, restorePointId);
  const vm = await db.vm.findUniqueOrThrow({ where: { id: rp.vmId }, select: { vmId: true, name: true } });
  return { ...rp, vm };
}

export interface RestoreEngine {
  id: string;
  name: string;
}

/**
 * The engine a restore goes to: the one asked for, else the restore point's own. It must be registered and
 * enabled; a restore may cross engines (another site's engine after a disaster), the catalog is shared.
 */
export async function restoreEngine(
  db: Db,
  rp: { engineId: string },
  engineId?: string,
): Promise<RestoreEngine> {
  const row = await db.engine.findUnique({
    where: { id: engineId ?? rp.engineId },
    select: { id: true, name: true, enabled: true },
  });
  if (!row)
    throw engineId
      ? new AppError("NOT_FOUND", "No such engine to restore to.")
      : new AppError(
          "PRECONDITION_FAILED",
          "The restore point's engine is no longer registered: choose another engine to restore to.",
        );
  if (!row.enabled)
    throw new AppError(
      "PRECONDITION_FAILED",
      `The engine ${row.name} is disabled in Lifeboat's settings: enable it or choose another engine.`,
    );
  return { id: row.id, name: row.name };
}

/** For the audit details: the target engine, when the restore leaves the restore point's own. */
function otherEngine(rp: { engineId: string }, engine: RestoreEngine) {
  return engine.id !== rp.engineId ? { engineId: engine.id, engineName: engine.name } : {};
}

/**
 * What a restore of `rp` as `name` would run into on the target engine: a VM of that name, the original still there,
 * and whether it needs an approval (team setting, name collision, original identity while it exists).
 */
export async function checkRestoreTarget(
  db: Db,
  rp: PointWithVm,
  target: { name: string; identity: "auto" | "new" | "original" },
  team: { requireApprovalForRestores: boolean; requireApprovalForDownloads: boolean } | null,
  targetEngine: RestoreEngine,
  encryptionKey: Buffer | null,
): Promise<RestoreTargetCheck> {
  const engineName = targetEngine.name;
  const { existing, originalExists } = await withEngine(
    db,
    targetEngine.id,
    async ({ engine }) => {
      try {
        const found = await engine.vms.findByName(target.name);
        let original = false;
        try {
          await engine.vms.get(rp.vm.vmId);
          original = true;
        } catch (e) {
          if (!(e instanceof EngineError && e.isNotFound)) throw e;
        }
        return { existing: found ? { id: found.id, name: found.name } : null, originalExists: original };
      } catch (e) {
        throw engineAppError(e, engineName);
      }
    },
    { encryptionKey },
  );
  const why: string[] = [];
  let replaces: { id: string; name: string } | null = null;
  if (existing) {
    why.push(`a VM named "${existing.name}" exists on ${engineName}: the restore replaces it`);
    replaces = existing;
  }
  if (target.identity === "original" && originalExists) {
    if (existing && existing.id !== rp.vm.vmId)
      throw new AppError(
        "CONFLICT",
        `The original VM still exists and another VM is named "${existing.name}": choose another name or a new identity.`,
      );
    if (!existing) why.push(`the original VM ${rp.vm.name} still exists: restoring its identity replaces it`);
    replaces = { id: rp.vm.vmId, name: existing?.name ?? rp.vm.name };
  }
  const collides = replaces !== null;
  if (!collides && team?.requireApprovalForRestores)
    why.push("the team asks for an approval of every restore");
  return {
    name: target.name,
    available: existing === null,
    existingVm: existing ? { ...existing, isOriginal: existing.id === rp.vm.vmId } : null,
    originalExists,
    approvalRequired: team
      ? approvalRequired(team, "restore.vm", { collidesWithExistingVm: collides })
      : collides,
    why,
    replaces,
  };
}

/** restores.checkName: the check above for a restore point the actor may restore. */
export async function checkRestoreName(
  db: Db,
  encryptionKey: Buffer | null,
  actor: Actor,
  input: {
    restorePointId: string;
    engineId?: string;
    name: string;
    identity?: "auto" | "new" | "original";
    teamId?: string;
  },
): Promise<RestoreTargetCheck> {
  const rp = await pointForRestore(db, actor, input.restorePointId);
  const teamId = await actingTeamForVm(db, actor, rp.vmId, input.teamId);
  const team = teamId ? await db.team.findUnique({ where: { id: teamId } }) : null;
  const engine = await restoreEngine(db, rp, input.engineId);
  return checkRestoreTarget(
    db,
    rp,
    { name: input.name, identity: input.identity ?? "auto" },
    team,
    engine,
    encryptionKey,
  );
}

function when(d: Date): string {
  return d.toISOString().replace("T", " ").slice(0, 16);
}

/** Who restores `rp` (the acting team, its settings) and to which engine, noted in the audit row. */
async function restoreScope(
  ctx: ServiceContext,
  actor: Actor,
  rp: PointWithVm,
  input: { teamId?: string; engineId?: string },
  details: Record<string, unknown>,
) {
  const teamId = await actingTeamForVm(ctx.db, actor, rp.vmId, input.teamId);
  const team = teamId ? await ctx.db.team.findUnique({ where: { id: teamId } }) : null;
  ctx.audit.teamId = teamId ?? undefined;
  ctx.audit.targetType = "restore_point";
  ctx.audit.targetId = rp.id;
  const engine = await restoreEngine(ctx.db, rp, input.engineId);
  ctx.audit.details = { vmName: rp.vmName, ...details, ...otherEngine(rp, engine) };
  return { teamId, team, engine };
}

/** Files the restore for approval when `approval` says why, else queues it; the job id joins the audit row. */
async function requestOrQueueRestore<T extends "restore.vm" | "restore.disk">(
  ctx: ServiceContext,
  actor: Actor,
  rp: PointWithVm,
  teamId: string | null,
  type: T,
  job: JobInput<T>,
  approval: { summary: string; reason: string; why: string[] } | null,
): Promise<RestoreStarted> {
  if (approval) {
    if (!teamId)
      throw new AppError(
        "PRECONDITION_FAILED",
        "This restore needs an approval, but no team owns the VM: give the VM to a team first.",
      );
    const requested = await requestApproval(ctx, {
      teamId,
      kind: type,
      payload: { restorePointId: rp.id, job },
      summary: approval.summary,
      reason: approval.reason,
      target: { type: "restore_point", id: rp.id },
    });
    return {
      status: "pending-approval",
      approvalRequestId: requested.id,
      expiresAt: requested.expiresAt,
      why: approval.why,
    };
  }
  const jobId = await ctx.queue.enqueue(type, job, {
    createdBy: actor.userId,
    teamId,
    vmId: rp.vmId,
    engineId: job.engineId,
    restorePointId: rp.id,
  });
  ctx.audit.details = { ...ctx.audit.details, jobId };
  return { status: "queued", jobId };
}

/**
 * Starts a restore as a new VM, or files it for approval. A restore over an existing VM (its name taken, or
 * the original identity while the original exists) is refused unless `replaceExisting`, and then always waits
 * for another approver; with the team's requireApprovalForRestores every restore does.
 */
export async function startRestoreVm(
  ctx: ServiceContext,
  actor: Actor,
  raw: RestoreVmRequest,
): Promise<RestoreStarted> {
  const input = restoreVmRequest.parse(raw);
  const rp = await pointForRestore(ctx.db, actor, input.restorePointId);
  const { teamId, team, engine } = await restoreScope(ctx, actor, rp, input, {
    name: input.name,
    identity: input.identity,
  });
  const check = await checkRestoreTarget(
    ctx.db,
    rp,
    { name: input.name, identity: input.identity },
    team,
    engine,
    ctx.config.encryptionKey,
  );
  if (check.replaces && !input.replaceExisting)
    throw new AppError(
      "CONFLICT",
      `${check.why.join("; ")}. Choose another name, or ask to replace it (another approver must approve).`,
      { existingVmId: check.replaces.id },
    );
  const job: JobInput<"restore.vm"> = {
    engineId: engine.id,
    name: input.name,
    cluster: input.cluster,
    storageDomain: input.storageDomain,
    identity: input.identity,
    ...(check.replaces ? { replaceVm: check.replaces } : {}),
  };
  const summary = check.replaces
    ? `Restore ${rp.vmName} (restore point of ${when(rp.createdAt)}) as "${input.name}" on ${engine.name}, REPLACING the existing VM "${check.replaces.name}"`
    : `Restore ${rp.vmName} (restore point of ${when(rp.createdAt)}) as a new VM "${input.name}" on ${engine.name}`;
  return requestOrQueueRestore(
    ctx,
    actor,
    rp,
    teamId,
    "restore.vm",
    job,
    check.approvalRequired ? { summary, reason: input.reason ?? "", why: check.why } : null,
  );
}

/** Starts a restore of one disk as a new floating disk (or files it when the team approves every restore). */
export async function startRestoreDisk(
  ctx: ServiceContext,
  actor: Actor,
  raw: RestoreDiskRequest,
): Promise<RestoreStarted> {
  const input = restoreDiskRequest.parse(raw);
  const rp = await pointForRestore(ctx.db, actor, input.restorePointId);
  const disk = rp.disks.find((d) => d.diskId === input.diskId || d.id === input.diskId);
  if (!disk) throw new AppError("NOT_FOUND", "The restore point has no such disk.");
  const { teamId, team, engine } = await restoreScope(ctx, actor, rp, input, {
    disk: disk.alias,
    alias: input.alias,
  });
  const job: JobInput<"restore.disk"> = {
    engineId: engine.id,
    diskId: disk.diskId,
    alias: input.alias,
    storageDomain: input.storageDomain,
    format: input.format,
  };
  const approval =
    team && teamId && approvalRequired(team, "restore.disk")
      ? {
          summary: `Restore disk ${disk.alias} of ${rp.vmName} (restore point of ${when(rp.createdAt)}) as a new disk "${input.alias}" on ${engine.name}`,
          reason: input.reason ?? "",
          why: ["the team asks for an approval of every restore"],
        }
      : null;
  return requestOrQueueRestore(ctx, actor, rp, teamId, "restore.disk", job, approval);
}

/** The restore point of an approved request, checked again now: it exists, is restorable, and the team owns it. */
async function approvedPoint(db: Db, restorePointId: string, teamId: string): Promise<RestorePoint> {
  const rp = await db.restorePoint.findUnique({ where: { id: restorePointId } });
  if (!rp) throw new AppError("NOT_FOUND", "The restore point no longer exists; nothing was restored.");
  assertRestorable(rp);
  const owned = await db.vmTeam.findUnique({ where: { vmId_teamId: { vmId: rp.vmId, teamId } } });
  if (!owned)
    throw new AppError("FORBIDDEN", "The VM no longer belongs to the team that approved the restore.");
  return rp;
}

const restoreVmApproval = z.object({ restorePointId: z.string(), job: restoreVmJob });
const restoreDiskApproval = z.object({ restorePointId: z.string(), job: restoreDiskJob });

async function enqueueApproved<T extends "restore.vm" | "restore.disk">(
  db: Db,
  queue: JobQueue,
  type: T,
  args: { restorePointId: string; job: JobInput<T>; requestId: string; teamId: string; requesterId: string },
) {
  const rp = await approvedPoint(db, args.restorePointId, args.teamId);
  // The engine approved is the one restored to; it must still be registered and enabled.
  const engine = await restoreEngine(db, rp, args.job.engineId);
  const jobId = await queue.enqueue(
    type,
    { ...args.job, approvalRequestId: args.requestId },
    {
      createdBy: args.requesterId,
      teamId: args.teamId,
      vmId: rp.vmId,
      engineId: engine.id,
      restorePointId: rp.id,
    },
  );
  return { jobId, result: { restorePointId: rp.id } };
}

// What runs once another approver of the team approves a restore: its job is queued (the worker re-checks the
// engine, removes the approved VM to replace — and only that one — and restores).
registerApprovalExecutor(
  "restore.vm",
  ({ db, queue, request, payload, requester }) =>
    enqueueApproved(db, queue, "restore.vm", {
      restorePointId: payload.restorePointId,
      job: payload.job,
      requestId: request.id,
      teamId: request.teamId,
      requesterId: requester.userId,
    }),
  { payload: restoreVmApproval },
);
registerApprovalExecutor(
  "restore.disk",
  ({ db, queue, request, payload, requester }) =>
    enqueueApproved(db, queue, "restore.disk", {
      restorePointId: payload.restorePointId,
      job: payload.job,
      requestId: request.id,
      teamId: request.teamId,
      requesterId: requester.userId,
    }),
  { payload: restoreDiskApproval },
);

export const restoreTargetsQuery = z.object({
  restorePointId: z.string().min(1).max(100),
  /** The engine to read (default: the restore point's own). */
  engineId: z.string().min(1).max(100).optional(),
});
export const restoreTargetsView = z.object({
  engineId: z.string(),
  engineName: z.string(),
  /** Every enabled engine a restore can go to, the restore point's own marked (names only). */
  engines: z.array(z.object({ id: z.string(), name: z.string(), original: z.boolean() })),
  clusters: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      version: z.string().nullable(),
      /** The cluster the VM ran in when it was backed up. */
      original: z.boolean(),
    }),
  ),
  storageDomains: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      storageType: z.string().nullable(),
      /** Free bytes, when the engine says. */
      availableBytes: z.number().nullable(),
      /** A disk of the restore point lived here. */
      original: z.boolean(),
    }),
  ),
});

export type RestoreTargetsQuery = z.infer<typeof restoreTargetsQuery>;
export type RestoreTargets = z.infer<typeof restoreTargetsView>;

/**
 * Where a restore point can be restored to: the enabled engines, and the clusters and data storage domains of
 * the chosen one (default: the point's own), read live from it (the restore wizard's pickers). The original
 * cluster and domains are marked — on another engine, those of the same name.
 */
export async function restoreTargets(
  db: Db,
  encryptionKey: Buffer | null,
  actor: Actor,
  input: RestoreTargetsQuery,
): Promise<RestoreTargets> {
  const rp = await db.restorePoint.findFirst({
    where: { AND: [{ id: input.restorePointId }, restorePointWhere(actor)] },
    select: {
      engineId: true,
      clusterName: true,
      disks: { select: { storageDomainId: true, storageDomainName: true } },
    },
  });
  if (!rp) throw new AppError("NOT_FOUND", "No such restore point (or it belongs to another team).");
  const engines = await db.engine.findMany({
    where: { enabled: true },
    select: { id: true, name: true },
    orderBy: { name: "asc" },
  });
  // The point's own engine by default; when it was disabled or removed, the first one that can take it.
  const chosen = input.engineId ?? (engines.some((e) => e.id === rp.engineId) ? rp.engineId : engines[0]?.id);
  if (!chosen)
    throw new AppError("PRECONDITION_FAILED", "No engine is enabled: register or enable one in Settings.");
  const engine = await restoreEngine(db, rp, chosen);
  const { clusters, domains } = await withEngine(
    db,
    engine.id,
    async (c) => {
      try {
        return { clusters: await c.engine.clusters.list(), domains: await c.engine.storageDomains.list() };
      } catch (e) {
        throw engineAppError(e, engine.name);
      }
    },
    { encryptionKey },
  );
  const originalDomains = new Set(
    rp.disks.flatMap((d) => [d.storageDomainId, d.storageDomainName]).filter((x): x is string => !!x),
  );
  return {
    engineId: engine.id,
    engineName: engine.name,
    engines: engines
      .map((e) => ({ ...e, original: e.id === rp.engineId }))
      .sort((a, b) => Number(b.original) - Number(a.original) || a.name.localeCompare(b.name)),
    clusters: clusters
      .map((c) => ({
        id: c.id,
        name: c.name,
        version: c.version ?? null,
        original: c.name === rp.clusterName,
      }))
      .sort((a, b) => Number(b.original) - Number(a.original) || a.name.localeCompare(b.name)),
    storageDomains: domains
      .filter((d) => (d.type ?? "data") === "data")
      .map((d) => ({
        id: d.id,
        name: d.name,
        storageType: d.storageType ?? null,
        availableBytes: d.available !== undefined ? Number(d.available) : null,
        original: originalDomains.has(d.id) || originalDomains.has(d.name),
      }))
      .sort((a, b) => Number(b.original) - Number(a.original) || a.name.localeCompare(b.name)),
  };
}
