import { AppError, actingTeamForVm, enqueueVerify, requireActor, restorePointWhere } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const verifyStartInput = z.object({
  restorePointId: z.string().min(1).max(100),
  teamId: z.string().max(100).optional(),
});
export const verifyStartOutput = z.object({ jobId: z.string() });

/**
 * Verifies a restore point: every chunk it uses is read back and re-hashed; damage marks it (and every other
 * restore point sharing the bad chunks) failed, which blocks restores from them.
 *
 * Permission `backup:create` (operators and admins of the owning team), not `restore-point:read`: a
 * verification reads the whole restore point from the repository (load comparable to a backup) and changes
 * the restore points' verify state, so it is an operation, not a read. Whole-repository verification is for
 * schedules and `lifeboat verify`.
 */
export const start = procedure
  .meta({ permission: "backup:create" })
  .input(verifyStartInput)
  .output(verifyStartOutput)
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
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
    const jobId = await enqueueVerify(ctx.db, ctx.queue, {
      restorePoint: rp,
      teamId,
      createdBy: actor.userId,
    });
    ctx.audit.details = { vmName: rp.vmName, jobId };
    return { jobId };
  });
