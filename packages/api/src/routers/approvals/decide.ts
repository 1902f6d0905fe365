import {
  approvalView,
  cancelApproval,
  decideApproval,
  decidingTeamIds,
  requireActor,
  toApprovalView,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const approvalDecisionInput = z.object({
  id: z.string().min(1),
  /** Required: why you approve or reject. */
  comment: z.string().trim().min(1, "Add a comment: every decision needs one.").max(2000),
});

async function view(ctx: Parameters<typeof decideApproval>[0], id: string) {
  const actor = requireActor(ctx);
  const row = await ctx.db.approvalRequest.findUniqueOrThrow({
    where: { id },
    include: { team: { select: { name: true } } },
  });
  return toApprovalView(row, actor, await decidingTeamIds(ctx.db, actor.userId));
}

/** Approves a pending request of one of the caller's teams (not their own); the approved operation runs. */
export const approve = procedure
  .meta({ permission: "approval:decide" })
  .input(approvalDecisionInput)
  .output(approvalView)
  .mutation(async ({ ctx, input }) => {
    const row = await decideApproval(ctx, { id: input.id, decision: "approve", comment: input.comment });
    return view(ctx, row.id);
  });

/** Rejects a pending request; nothing runs. */
export const reject = procedure
  .meta({ permission: "approval:decide" })
  .input(approvalDecisionInput)
  .output(approvalView)
  .mutation(async ({ ctx, input }) => {
    const row = await decideApproval(ctx, { id: input.id, decision: "reject", comment: input.comment });
    return view(ctx, row.id);
  });

export const approvalCancelInput = z.object({ id: z.string().min(1) });

/** Withdraws the caller's own pending request. */
export const cancel = procedure
  .meta({ permission: "approval:read" })
  .input(approvalCancelInput)
  .output(approvalView)
  .mutation(async ({ ctx, input }) => {
    const row = await cancelApproval(ctx, input.id);
    return view(ctx, row.id);
  });
