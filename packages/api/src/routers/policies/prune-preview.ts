import {
  planPrune,
  policyIdInput,
  pruneTargets,
  RETENTION_RULES,
  requireActor,
  requirePolicyInScope,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

const rule = z.enum([...RETENTION_RULES, "pinned"]);

export const prunePreviewInput = z.object({ policyId: policyIdInput, vmId: z.string().max(100).optional() });
export const prunePreviewOutput = z.object({
  timeZone: z.string(),
  vms: z.array(
    z.object({
      vmId: z.string(),
      vmName: z.string(),
      keep: z.number().int(),
      remove: z.number().int(),
      points: z.array(
        z.object({
          id: z.string(),
          createdAt: z.date(),
          description: z.string(),
          pinned: z.boolean(),
          verifyState: z.string(),
          keep: z.boolean(),
          /** The rule that keeps it (null when it goes). */
          rule: rule.nullable(),
          /** The calendar bucket it stands for, e.g. "2026-W13". */
          bucket: z.string().nullable(),
          /** For a point that goes: the newer point of the same bucket kept instead. */
          supersededBy: z
            .object({ id: z.string(), rule: z.enum(RETENTION_RULES), bucket: z.string().nullable() })
            .nullable(),
        }),
      ),
    }),
  ),
});

/** Dry run of the policy's retention: per VM, which of its restore points go and which rule keeps each other. */
export const prunePreview = procedure
  .meta({ permission: "policy:read" })
  .input(prunePreviewInput)
  .output(prunePreviewOutput)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const policy = await requirePolicyInScope(ctx.db, actor, input.policyId);
    const targets = (await pruneTargets(ctx.db, policy)).filter((t) => !input.vmId || t.vmId === input.vmId);
    const vms = [];
    for (const t of targets) {
      const plan = await planPrune(ctx.db, policy, t.vmId);
      vms.push({
        vmId: t.vmId,
        vmName: t.vmName,
        keep: plan.keep,
        remove: plan.remove,
        points: plan.points.map((p) => ({
          id: p.id,
          createdAt: p.createdAt,
          description: p.description,
          pinned: p.pinned,
          verifyState: p.verifyState,
          keep: p.decision.keep,
          rule: p.decision.rule,
          bucket: p.decision.bucket,
          supersededBy: p.decision.keep ? null : p.decision.supersededBy,
        })),
      });
    }
    return { timeZone: policy.timezone, vms };
  });
