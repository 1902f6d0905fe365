import type { Prisma } from "@lifeboat/db";
import {
  APPROVAL_STATES,
  approvalView,
  decidingTeamIds,
  expireApprovals,
  page,
  requireActor,
  teamRowWhere,
  toApprovalView,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const approvalsListInput = z.object({
  /**
   * inbox: pending requests the caller can decide (teams where they approve, not their own);
   * mine: the caller's own requests; team: every request of the caller's teams.
   */
  view: z.enum(["inbox", "mine", "team"]).default("inbox"),
  state: z.enum(APPROVAL_STATES).optional(),
  teamId: z.string().optional(),
  /** The id of the last request of the previous page. */
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(100).default(25),
});
export const approvalsListOutput = z.object({ items: z.array(approvalView), hasMore: z.boolean() });

/** Approval requests, newest first, never outside the caller's teams (or their own requests). */
export const list = procedure
  .meta({ permission: "approval:read" })
  .input(approvalsListInput)
  .output(approvalsListOutput)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    await expireApprovals(ctx.db, { notify: ctx.config.notify });
    const deciding = await decidingTeamIds(ctx.db, actor.userId);
    const byView: Record<typeof input.view, Prisma.ApprovalRequestWhereInput> = {
      inbox: { state: "pending", teamId: { in: deciding }, requestedById: { not: actor.userId } },
      mine: { requestedById: actor.userId },
      team: teamRowWhere(actor),
    };
    const rows = await ctx.db.approvalRequest.findMany({
      where: {
        AND: [
          byView[input.view],
          input.state ? { state: input.state } : {},
          input.teamId ? { teamId: input.teamId } : {},
        ],
      },
      include: { team: { select: { name: true } } },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
      take: input.limit + 1,
    });
    const { items, hasMore } = page(rows, input.limit);
    return { items: items.map((r) => toApprovalView(r, actor, deciding)), hasMore };
  });
