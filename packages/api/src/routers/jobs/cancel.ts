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
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const job = await cancelJob(ctx.db, actor, input.id);
    ctx.audit.teamId = job.teamId ?? undefined;
    ctx.audit.targetType = "job";
    ctx.audit.targetId = job.id;
    ctx.audit.details = { type: job.type, state: job.state };
    return job;
  });
