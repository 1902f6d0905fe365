import { requireActor, restoreDiskRequest, restoreStarted, startRestoreDisk } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const restoresStartDiskInput = restoreDiskRequest;
export const restoresStartDiskOutput = restoreStarted;

/** Restores one disk of a restore point as a new floating disk (waits for approval when the team says so). */
export const startDisk = procedure
  .meta({ permission: "restore:request" })
  .input(restoresStartDiskInput)
  .output(restoresStartDiskOutput)
  .mutation(({ ctx, input }) => startRestoreDisk(ctx, requireActor(ctx), input));
