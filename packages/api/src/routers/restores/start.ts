import { requireActor, restoreStarted, restoreVmRequest, startRestoreVm } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const restoresStartInput = restoreVmRequest;
export const restoresStartOutput = restoreStarted;

/**
 * Restores a restore point as a new VM (new name, chosen cluster and storage domain). It runs at once, or —
 * when it would replace an existing VM (its name is taken, or the original identity while the original
 * exists; only with `replaceExisting`) or the team approves every restore — it waits for another approver.
 */
export const start = procedure
  .meta({ permission: "restore:request" })
  .input(restoresStartInput)
  .output(restoresStartOutput)
  .mutation(({ ctx, input }) => startRestoreVm(ctx, requireActor(ctx), input));
