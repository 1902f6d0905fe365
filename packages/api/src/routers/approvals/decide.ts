import { approvalView, cancelApproval, decideApproval } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const approvalDecisionInput = z.object({
  id: z.string().min(1),
  /** Required: why you approve or reject. */
  comment: z.string().trim().min(1, "Add a comment: every decision needs one.").max(2000),
});

/** Approves a pending request of one of the caller's teams (not their own); the approved operation runs. */
export const approve = procedure
  .meta({ permission: "approval:decide" })
  .input(approvalDecisionInput)
  .output(approvalView)
  .mutation(({ ctx, input }) =>
    decideApproval(ctx, { id: input.id, decision: "approve", comment: input.comment }),
  );

/** Rejects a pending request; nothing runs. */
export const reject = procedure
  .meta({ permission: "approval:decide" })
  .input(approvalDecisionInput)
  .output(approvalView)
  .mutation(({ ctx, input }) =>
    decideApproval(ctx, { id: input.id, decision: "reject", comment: input.comment }),
  );

export const approvalCancelInput = z.object({ id: z.string().min(1) });

/** Withdraws the caller's own pending request. */
export const cancel = procedure
  .meta({ permission: "approval:read" })
  .input(approvalCancelInput)
  .output(approvalView)
  .mutation(({ ctx, input }) => cancelApproval(ctx, input.id));
