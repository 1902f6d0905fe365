import { AppError, policyIdInput, pruneTargets, requireActor, requirePolicyInScope } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const pruneInput = z.object({ policyId: policyIdInput, vmId: z.string().max(100).optional() });
export const pruneOutput = z.object({ jobIds: z.array(z.string()) });

/**
 * Applies the policy's (approved) retention now, to one VM or to every VM it has restore points of: one
 * prune.vm job per VM. Pinned points stay; GC reclaims the space later.
 */
export const prune = procedure
  .meta({ permission: "backup:create" })
  .input(pruneInput)
  .output(pruneOutput)
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const policy = await requirePolicyInScope(ctx.db, actor, input.policyId);
    ctx.audit.teamId = policy.teamId;
    ctx.audit.targetType = "policy";
    ctx.audit.targetId = policy.id;
    const targets = (await pruneTargets(ctx.db, policy)).filter((t) => !input.vmId || t.vmId === input.vmId);
    if (input.vmId && targets.length === 0)
      throw new AppError("NOT_FOUND", "This policy protects no such VM and has no restore points of it.");
    const jobIds: string[] = [];
    for (const t of targets)
      jobIds.push(
        await ctx.queue.enqueue(
          "prune.vm",
          { policyId: policy.id, vmId: t.vmId },
          { createdBy: actor.userId, teamId: policy.teamId, policyId: policy.id, vmId: t.vmId },
        ),
      );
    ctx.audit.details = { policy: policy.name, vms: targets.map((t) => t.vmName), jobIds };
    return { jobIds };
  });
