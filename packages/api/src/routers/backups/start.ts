import {
  AppError,
  actingTeamForVm,
  engineAppError,
  enqueueBackup,
  recomputeVmTeams,
  requireActor,
  requireVmInScope,
  withEngine,
} from "@lifeboat/domain";
import { jobInputs } from "@lifeboat/jobs";
import { z } from "zod";
import { procedure } from "../../trpc";

const backupJob = jobInputs["backup.vm"];

export const backupsStartInput = z
  .object({
    /** The catalog VM (`vm.id`)… */
    vmId: z.string().min(1).max(100).optional(),
    /** …or the engine and the oVirt VM id (site administrators may back up a VM the inventory lacks). */
    engineId: z.string().min(1).max(100).optional(),
    engineVmId: z.string().min(1).max(100).optional(),
    description: backupJob.shape.description,
    tags: backupJob.shape.tags,
    keepSnapshot: backupJob.shape.keepSnapshot,
    /** The team the backup acts for (default: the first of the caller's teams that own the VM). */
    teamId: z.string().max(100).optional(),
  })
  .refine((i) => (i.vmId !== undefined) !== (i.engineId !== undefined && i.engineVmId !== undefined), {
    message: "give either vmId, or engineId and engineVmId",
  });
export const backupsStartOutput = z.object({ jobId: z.string() });

/**
 * Queues a backup of one VM. At most one backup per VM runs or waits at a time: a second one is a CONFLICT
 * naming the job that holds the VM.
 */
export const start = procedure
  .meta({ permission: "backup:create" })
  .input(backupsStartInput)
  .output(backupsStartOutput)
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    let vmId = input.vmId;
    if (vmId === undefined) {
      const engineId = input.engineId as string;
      const engineVmId = input.engineVmId as string;
      const known = await ctx.db.vm.findUnique({ where: { engineId_vmId: { engineId, vmId: engineVmId } } });
      if (known) vmId = known.id;
      else if (!actor.siteAdmin)
        throw new AppError("NOT_FOUND", "No such VM (or it belongs to another team).");
      else vmId = await inventoryVm(ctx.db, engineId, engineVmId);
    }
    const vm = await requireVmInScope(ctx.db, actor, vmId);
    const teamId = await actingTeamForVm(ctx.db, actor, vm.id, input.teamId);
    ctx.audit.teamId = teamId ?? undefined;
    ctx.audit.targetType = "vm";
    ctx.audit.targetId = vm.id;
    ctx.audit.details = { vmName: vm.name };
    const jobId = await enqueueBackup(ctx.db, ctx.queue, {
      vm,
      teamId,
      createdBy: actor.userId,
      input: { description: input.description, tags: input.tags, keepSnapshot: input.keepSnapshot },
    });
    ctx.audit.details = { ...ctx.audit.details, jobId };
    return { jobId };
  });

/** Reads a VM the inventory does not list yet from its engine and records it (the backup refreshes it later). */
async function inventoryVm(db: Parameters<typeof withEngine>[0], engineId: string, engineVmId: string) {
  const engineRow = await db.engine.findUnique({ where: { id: engineId }, select: { name: true } });
  if (!engineRow) throw new AppError("NOT_FOUND", "No such engine.");
  const vm = await withEngine(db, engineId, async ({ engine }) => {
    try {
      return await engine.vms.get(engineVmId);
    } catch (e) {
      throw engineAppError(e, engineRow.name);
    }
  });
  const row = await db.vm.upsert({
    where: { engineId_vmId: { engineId, vmId: vm.id } },
    update: { name: vm.name, status: vm.status ?? null, lastSeenAt: new Date(), goneAt: null },
    create: { engineId, vmId: vm.id, name: vm.name, status: vm.status ?? null, osType: vm.osType ?? null },
  });
  await recomputeVmTeams(db, { engineId });
  return row.id;
}
