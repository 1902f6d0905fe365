import {
  AppError,
  type PolicyChange,
  policyIdInput,
  policySpec,
  requestApproval,
  requireActor,
  requireTeamScope,
  validatePolicyChange,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const requestChangeInput = z.object({
  teamId: z.string().min(1).max(100),
  change: z.discriminatedUnion("op", [
    z.object({ op: z.literal("create"), spec: policySpec }),
    z.object({
      op: z.literal("update"),
      policyId: policyIdInput,
      spec: policySpec,
      /** The policy's updatedAt as the form loaded it: refused if it changed since. */
      baseUpdatedAt: z.date().optional(),
    }),
    z.object({ op: z.literal("delete"), policyId: policyIdInput, baseUpdatedAt: z.date().optional() }),
  ]),
  /** Why: approvers read it. */
  reason: z.string().trim().min(1, "Say why: a reason is required.").max(2000),
});
export const requestChangeOutput = z.object({
  approvalRequestId: z.string(),
  summary: z.string(),
  expiresAt: z.date(),
});

/**
 * Asks for a policy to be created, changed (paused and resumed included) or deleted. It never applies at once:
 * another approver of the team must approve (four eyes); the change is validated now and again on approval.
 */
export const requestChange = procedure
  .meta({ permission: "policy:manage" })
  .input(requestChangeInput)
  .output(requestChangeOutput)
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    ctx.audit.teamId = input.teamId;
    requireTeamScope(actor, input.teamId);
    let change: PolicyChange;
    if (input.change.op === "create") {
      change = { op: "create", teamId: input.teamId, spec: input.change.spec };
    } else {
      const current = await ctx.db.policy.findUnique({ where: { id: input.change.policyId } });
      if (!current || current.teamId !== input.teamId)
        throw new AppError("NOT_FOUND", "No such policy (or it belongs to another team).");
      const base = input.change.baseUpdatedAt;
      if (base && base.getTime() !== current.updatedAt.getTime())
        throw new AppError(
          "CONFLICT",
          `The policy ${current.name} changed since you opened it: reload it and make your change again.`,
        );
      const baseUpdatedAt = current.updatedAt.toISOString();
      change =
        input.change.op === "update"
          ? {
              op: "update",
              teamId: input.teamId,
              policyId: current.id,
              baseUpdatedAt,
              spec: input.change.spec,
            }
          : { op: "delete", teamId: input.teamId, policyId: current.id, baseUpdatedAt, name: current.name };
    }
    const { summary } = await validatePolicyChange(ctx.db, change);
    const req = await requestApproval(ctx, {
      teamId: input.teamId,
      kind: "policy.change",
      payload: change,
      summary,
      reason: input.reason,
      target:
        change.op === "create" ? { type: "team", id: input.teamId } : { type: "policy", id: change.policyId },
    });
    ctx.audit.targetType = "approval_request";
    ctx.audit.targetId = req.id;
    ctx.audit.details = { ...ctx.audit.details, op: change.op, summary };
    return { approvalRequestId: req.id, summary, expiresAt: req.expiresAt };
  });
