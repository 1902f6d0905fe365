import type { Db, Vm } from "@lifeboat/db";
import { type JobInput, type JobQueue, jobInputs } from "@lifeboat/jobs";
import { z } from "zod";
import type { Actor, ServiceContext } from "./context";
import { engineAppError, withEngine } from "./engines";
import { AppError } from "./errors";
import { actingTeamForVm, recomputeVmTeams, requireVmInScope, restorePointWhere } from "./vm-ownership";

const ACTIVE = ["queued", "running"];

/** A PostgreSQL unique violation (Prisma P2002), optionally of one named index. */
export function isUniqueViolation(e: unknown, index?: string): boolean {
  const err = e as { code?: unknown; message?: unknown; meta?: unknown } | null;
  if (!err || typeof err !== "object") return false;
  const text = `${String(err.message ?? "")} ${JSON.stringify(err.meta ?? {})}`;
  const unique = err.code === "P2002" || text.includes("23505") || /unique constraint/i.test(text);
  return unique && (index === undefined || text.includes(index));
}

async function requireEnabledEngine(db: Db, engineId: string): Promise<{ id: string; name: string }> {
  const engine = await db.engine.findUnique({
    where: { id: engineId },
    select: { id: true, name: true, enabled: true },
  });
  if (!engine) throw new AppError("PRECONDITION_FAILED", "The VM's engine is no longer registered.");
  if (!engine.enabled)
    throw new AppError(
      "PRECONDITION_FAILED",
      `The engine ${engine.name} is disabled in Lifeboat's settings.`,
    );
  return engine;
}

/**
 * Queues one backup of a catalog VM. At most one backup per VM is queued or running: PostgreSQL refuses a
 * second one (partial unique index job_one_active_backup_per_vm), which comes back as a CONFLICT naming the job
 * that holds the VM. Callers check the scope first (API: requireVmInScope; policies: the policy's team).
 */
export async function enqueueBackup(
  db: Db,
  queue: JobQueue,
  args: {
    vm: Pick<Vm, "id" | "engineId" | "name">;
    teamId: string | null;
    createdBy: string | null;
    policyId?: string | null;
    input?: JobInput<"backup.vm">;
  },
): Promise<string> {
  await requireEnabledEngine(db, args.vm.engineId);
  try {
    return await queue.enqueue("backup.vm", args.input ?? {}, {
      createdBy: args.createdBy,
      teamId: args.teamId,
      vmId: args.vm.id,
      engineId: args.vm.engineId,
      policyId: args.policyId ?? null,
    });
  } catch (e) {
    if (!isUniqueViolation(e, "job_one_active_backup_per_vm") && !isUniqueViolation(e)) throw e;
    const busy = await db.job.findFirst({
      where: { type: "backup.vm", vmId: args.vm.id, state: { in: ACTIVE } },
      select: { id: true, state: true },
    });
    throw new AppError(
      "CONFLICT",
      `A backup of ${args.vm.name} is already ${busy?.state ?? "queued or running"}${busy ? ` (job ${busy.id})` : ""}: wait for it to finish, or cancel it.`,
      busy ? { jobId: busy.id } : undefined,
    );
  }
}

/**
 * Queues a verification of one restore point (re-read and re-hash every chunk it uses). A restore point being
 * verified already is a CONFLICT naming that job.
 */
export async function enqueueVerify(
  db: Db,
  queue: JobQueue,
  args: {
    restorePoint: { id: string; vmId: string; engineId: string };
    teamId: string | null;
    createdBy: string | null;
    policyId?: string | null;
  },
): Promise<string> {
  const busy = await db.job.findFirst({
    where: { type: "verify", restorePointId: args.restorePoint.id, state: { in: ACTIVE } },
    select: { id: true },
  });
  if (busy)
    throw new AppError("CONFLICT", `This restore point is being verified already (job ${busy.id}).`, {
      jobId: busy.id,
    });
  return queue.enqueue(
    "verify",
    {},
    {
      createdBy: args.createdBy,
      teamId: args.teamId,
      vmId: args.restorePoint.vmId,
      engineId: args.restorePoint.engineId,
      restorePointId: args.restorePoint.id,
      policyId: args.policyId ?? null,
    },
  );
}

const backupJob = jobInputs["backup.vm"];

export const backupRequest = z
  .object({
    /** The catalog VM (`vm.id`)… */
    vmId: z.string().min(1).max(100).optional(),
    /** …or the engine and the oVirt VM id (site administrators may back up a VM the inventory lacks). */
    engineId: z.string().min(1).max(100).optional(),
    engineVmId: z.string().min(1).max(100).optional(),
    description: backupJob.shape.description,
    tags: backupJob.shape.tags,
    keepSnapshot: backupJob.shape.keepSnapshot,
    /**
     * auto: incremental through the engine's backup API where it allows (full when no checkpoint), else the
     * snapshot chain; full: a full backup through the backup API; snapshot-chain.
     */
    mode: z.enum(["auto", "full", "snapshot-chain"]).default("auto"),
    /** The team the backup acts for (default: the first of the caller's teams that own the VM). */
    teamId: z.string().max(100).optional(),
  })
  .refine((i) => (i.vmId !== undefined) !== (i.engineId !== undefined && i.engineVmId !== undefined), {
    message: "give either vmId, or engineId and engineVmId",
  })
  .refine((i) => !(i.keepSnapshot && i.mode === "full"), {
    message: "a full backup goes through the engine's backup API, which takes no snapshot to keep",
    path: ["keepSnapshot"],
  });
export type BackupRequest = z.input<typeof backupRequest>;

export const jobStarted = z.object({ jobId: z.string() });
export type JobStarted = z.infer<typeof jobStarted>;

/**
 * Queues a backup of one VM for the actor (permission backup:create). At most one backup per VM runs or waits
 * at a time: a second one is a CONFLICT naming the job that holds the VM. A site administrator may name a VM
 * the inventory lacks by its engine and oVirt id: it is read from the engine and recorded first.
 */
export async function startBackup(
  ctx: ServiceContext,
  actor: Actor,
  raw: BackupRequest,
): Promise<JobStarted> {
  const input = backupRequest.parse(raw);
  let vmId = input.vmId;
  if (vmId === undefined) {
    const engineId = input.engineId as string;
    const engineVmId = input.engineVmId as string;
    const known = await ctx.db.vm.findUnique({ where: { engineId_vmId: { engineId, vmId: engineVmId } } });
    if (known) vmId = known.id;
    else if (!actor.siteAdmin) throw new AppError("NOT_FOUND", "No such VM (or it belongs to another team).");
    else vmId = await inventoryVm(ctx, engineId, engineVmId);
  }
  const vm = await requireVmInScope(ctx.db, actor, vmId);
  const teamId = await actingTeamForVm(ctx.db, actor, vm.id, input.teamId);
  ctx.audit.teamId = teamId ?? undefined;
  ctx.audit.targetType = "vm";
  ctx.audit.targetId = vm.id;
  ctx.audit.details = { vmName: vm.name, mode: input.mode };
  const jobId = await enqueueBackup(ctx.db, ctx.queue, {
    vm,
    teamId,
    createdBy: actor.userId,
    input: {
      mode: input.mode,
      description: input.description,
      tags: input.tags,
      keepSnapshot: input.keepSnapshot,
    },
  });
  ctx.audit.details = { ...ctx.audit.details, jobId };
  return { jobId };
}

/** Reads a VM the inventory does not list yet from its engine and records it (the backup refreshes it later). */
async function inventoryVm(ctx: ServiceContext, engineId: string, engineVmId: string): Promise<string> {
  const { db } = ctx;
  const engineRow = await db.engine.findUnique({ where: { id: engineId }, select: { name: true } });
  if (!engineRow) throw new AppError("NOT_FOUND", "No such engine.");
  const vm = await withEngine(
    db,
    engineId,
    async ({ engine }) => {
      try {
        return await engine.vms.get(engineVmId);
      } catch (e) {
        throw engineAppError(e, engineRow.name);
      }
    },
    { encryptionKey: ctx.config.encryptionKey },
  );
  const row = await db.vm.upsert({
    where: { engineId_vmId: { engineId, vmId: vm.id } },
    update: { name: vm.name, status: vm.status ?? null, lastSeenAt: new Date(), goneAt: null },
    create: { engineId, vmId: vm.id, name: vm.name, status: vm.status ?? null, osType: vm.osType ?? null },
  });
  await recomputeVmTeams(db, { engineId });
  return row.id;
}

export const verifyRequest = z.object({
  restorePointId: z.string().min(1).max(100),
  teamId: z.string().max(100).optional(),
});
export type VerifyRequest = z.infer<typeof verifyRequest>;

/**
 * Queues a verification of one complete restore point for the actor: every chunk it uses is read back and
 * re-hashed; damage marks it (and every other restore point sharing the bad chunks) failed.
 */
export async function startVerify(
  ctx: ServiceContext,
  actor: Actor,
  input: VerifyRequest,
): Promise<JobStarted> {
  const rp = await ctx.db.restorePoint.findFirst({
    where: { AND: [{ id: input.restorePointId }, restorePointWhere(actor)] },
    select: { id: true, vmId: true, engineId: true, vmName: true, state: true },
  });
  if (!rp) throw new AppError("NOT_FOUND", "No such restore point (or it belongs to another team).");
  if (rp.state !== "complete")
    throw new AppError("PRECONDITION_FAILED", `Restore point ${rp.id} is ${rp.state}: nothing to verify.`);
  const teamId = await actingTeamForVm(ctx.db, actor, rp.vmId, input.teamId);
  ctx.audit.teamId = teamId ?? undefined;
  ctx.audit.targetType = "restore_point";
  ctx.audit.targetId = rp.id;
  const jobId = await enqueueVerify(ctx.db, ctx.queue, { restorePoint: rp, teamId, createdBy: actor.userId });
  ctx.audit.details = { vmName: rp.vmName, jobId };
  return { jobId };
}

/** Diagnostics: queues a `system.echo` job that a worker answers, proving the queue end to end. */
export async function startEcho(ctx: ServiceContext, actor: Actor, message: string): Promise<JobStarted> {
  const jobId = await ctx.queue.enqueue("system.echo", { message }, { createdBy: actor.userId });
  ctx.audit.targetType = "job";
  ctx.audit.targetId = jobId;
  return { jobId };
}
