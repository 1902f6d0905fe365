import {
  AppError,
  approvalView,
  decidingTeamIds,
  expireApprovals,
  inTeamScope,
  requireActor,
  toApprovalView,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const approvalsGetInput = z.object({ id: z.string().min(1) });

/** One request, for its team's members and its requester. */
export const get = procedure
  .meta({ permission: "approval:read" })
  .input(approvalsGetInput)
  .output(approvalView)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    await expireApprovals(ctx.db, { notify: ctx.config.notify });
    const row = await ctx.db.approvalRequest.findUnique({
      where: { id: input.id },
      include: { team: { select: { name: true } } },
    });
    if (!row || !(inTeamScope(actor, row.teamId) || row.requestedById === actor.userId))
      throw new AppError("NOT_FOUND", "No such approval request.");
    return toApprovalView(row, actor, await decidingTeamIds(ctx.db, actor.userId));
  });
