import { backupRequest, jobStarted, requireActor, startBackup } from "@lifeboat/domain";
import { procedure } from "../../trpc";

/**
 * Queues a backup of one VM. At most one backup per VM runs or waits at a time: a second one is a CONFLICT
 * naming the job that holds the VM.
 */
export const start = procedure
  .meta({ permission: "backup:create" })
  .input(backupRequest)
  .output(jobStarted)
  .mutation(({ ctx, input }) => startBackup(ctx, requireActor(ctx), input));
