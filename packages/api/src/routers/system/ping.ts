import { requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const pingInput = z.object({ message: z.string().trim().min(1).max(200) });
export const pingOutput = z.object({ jobId: z.string() });

/** Diagnostics: queues a `system.echo` job that a worker answers, proving the queue end to end. */
export const ping = procedure
  .meta({ permission: "site:diagnostics" })
  .input(pingInput)
  .output(pingOutput)
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const jobId = await ctx.queue.enqueue(
      "system.echo",
      { message: input.message },
      { createdBy: actor.userId },
    );
    ctx.audit.targetType = "job";
    ctx.audit.targetId = jobId;
    return { jobId };
  });
