import {
  actingTeamForVm,
  requireActor,
  requireRestorePointInScope,
  type ServiceContext,
  setPinned,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const pinInput = z.object({ restorePointId: z.string().min(1).max(100) });
export const pinOutput = z.object({ restorePointId: z.string(), pinned: z.boolean() });

async function change(
  ctx: ServiceContext,
  restorePointId: string,
  pinned: boolean,
): Promise<z.infer<typeof pinOutput>> {
  const actor = requireActor(ctx);
  const rp = await requireRestorePointInScope(ctx.db, actor, restorePointId);
  ctx.audit.teamId = (await actingTeamForVm(ctx.db, actor, rp.vmId)) ?? undefined;
  ctx.audit.targetType = "restore_point";
  ctx.audit.targetId = rp.id;
  ctx.audit.details = { vm: rp.vmName, createdAt: rp.createdAt.toISOString(), was: rp.pinned };
  await setPinned(ctx.db, rp.id, pinned);
  return { restorePointId: rp.id, pinned };
}

/** Protects a restore point from every prune (operators and admins). */
export const pin = procedure
  .meta({ permission: "backup:create" })
  .input(pinInput)
  .output(pinOutput)
  .mutation(({ ctx, input }) => change(ctx, input.restorePointId, true));

/**
 * Gives a restore point back to its policy's retention, which may then prune it: team admins only, since that
 * can end in its deletion without a further approval.
 */
export const unpin = procedure
  .meta({ permission: "policy:manage" })
  .input(pinInput)
  .output(pinOutput)
  .mutation(({ ctx, input }) => change(ctx, input.restorePointId, false));
