import { pinRestorePoint, requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const pinInput = z.object({ restorePointId: z.string().min(1).max(100) });
export const pinOutput = z.object({ restorePointId: z.string(), pinned: z.boolean() });

/** Protects a restore point from every prune (operators and admins). */
export const pin = procedure
  .meta({ permission: "backup:create" })
  .input(pinInput)
  .output(pinOutput)
  .mutation(({ ctx, input }) => pinRestorePoint(ctx, requireActor(ctx), input.restorePointId, true));

/**
 * Gives a restore point back to its policy's retention, which may then prune it: team admins only, since that
 * can end in its deletion without a further approval.
 */
export const unpin = procedure
  .meta({ permission: "policy:manage" })
  .input(pinInput)
  .output(pinOutput)
  .mutation(({ ctx, input }) => pinRestorePoint(ctx, requireActor(ctx), input.restorePointId, false));
