import { cancelJob, jobView, requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const jobsCancelInput = z.object({ id: z.string().uuid() });
export const jobsCancelOutput = jobView;

/**
 * Cancels a job: a queued one at once; a running one within about a second (its step is aborted, the engine
 * cleaned up, and it ends `cancelled`).
 */
export const cancel = procedure
  .meta({ permission: "job:cancel" })
  .input(jobsCancelInput)
  .output(jobsCancelOutput)
  .mutation(({ ctx, input }) => cancelJob(ctx, requireActor(ctx), input.id));
