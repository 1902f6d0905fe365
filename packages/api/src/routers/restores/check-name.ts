import { checkRestoreName, requireActor, restoreTargetCheck, restoreVmRequest } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const restoresCheckNameInput = z.object({
  restorePointId: restoreVmRequest.shape.restorePointId,
  engineId: restoreVmRequest.shape.engineId,
  name: restoreVmRequest.shape.name,
  identity: restoreVmRequest.shape.identity,
  teamId: restoreVmRequest.shape.teamId,
});
export const restoresCheckNameOutput = restoreTargetCheck;

/**
 * Before submitting a restore: is the name free on the target engine, does the original still exist, and would the
 * restore need an approval (and why).
 */
export const checkName = procedure
  .meta({ permission: "restore:request" })
  .input(restoresCheckNameInput)
  .output(restoresCheckNameOutput)
  .query(({ ctx, input }) => checkRestoreName(ctx.db, ctx.config.encryptionKey, requireActor(ctx), input));
