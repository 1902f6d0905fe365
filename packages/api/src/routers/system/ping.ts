import { jobStarted, requireActor, startEcho } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const pingInput = z.object({ message: z.string().trim().min(1).max(200) });

/** Diagnostics: queues a `system.echo` job that a worker answers, proving the queue end to end. */
export const ping = procedure
  .meta({ permission: "site:diagnostics" })
  .input(pingInput)
  .output(jobStarted)
  .mutation(({ ctx, input }) => startEcho(ctx, requireActor(ctx), input.message));
