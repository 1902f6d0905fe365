import { pruneRequest, requireActor, startPrune } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const pruneInput = pruneRequest;
export const pruneOutput = z.object({ jobIds: z.array(z.string()) });

/**
 * Applies the policy's (approved) retention now, to one VM or to every VM it has restore points of: one
 * prune.vm job per VM. Pinned points stay; GC reclaims the space later.
 */
export const prune = procedure
  .meta({ permission: "backup:create" })
  .input(pruneInput)
  .output(pruneOutput)
  .mutation(({ ctx, input }) => startPrune(ctx, requireActor(ctx), input));
