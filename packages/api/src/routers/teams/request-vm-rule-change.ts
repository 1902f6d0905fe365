import {
  requestApproval,
  requireActor,
  requireTeamScope,
  teamIdInput,
  type VmRuleChange,
  validateVmRuleChange,
  vmRuleInput,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const requestVmRuleChangeInput = z.object({
  teamId: teamIdInput,
  change: z.discriminatedUnion("op", [
    z.object({ op: z.literal("add"), rule: vmRuleInput }),
    z.object({ op: z.literal("remove"), ruleId: z.string().min(1) }),
  ]),
  /** Why: approvers read it. */
  reason: z.string().trim().min(1, "Say why: a reason is required.").max(2000),
});
export const requestVmRuleChangeOutput = z.object({
  approvalRequestId: z.string(),
  summary: z.string(),
  expiresAt: z.date(),
});

/**
 * Asks for a change of the VMs a team owns (a rule added or removed). It never applies at once: another
 * approver of the team must approve it (four eyes), then the rule changes and ownership is recomputed.
 */
export const requestVmRuleChange = procedure
  .meta({ permission: "team:manage" })
  .input(requestVmRuleChangeInput)
  .output(requestVmRuleChangeOutput)
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    ctx.audit.teamId = input.teamId;
    requireTeamScope(actor, input.teamId);
    const change: VmRuleChange = { teamId: input.teamId, ...input.change };
    const { summary } = await validateVmRuleChange(ctx.db, change);
    const req = await requestApproval(ctx, {
      teamId: input.teamId,
      kind: "team.assignment",
      payload: change,
      summary,
      reason: input.reason,
      target:
        change.op === "remove"
          ? { type: "team_vm_rule", id: change.ruleId }
          : { type: "team", id: input.teamId },
    });
    ctx.audit.targetType = "approval_request";
    ctx.audit.targetId = req.id;
    return { approvalRequestId: req.id, summary, expiresAt: req.expiresAt };
  });
