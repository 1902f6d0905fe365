import { decidingTeamIds, expireApprovals, requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const approvalsCountsOutput = z.object({
  /** Pending requests the caller can decide (the navigation badge). */
  awaitingMyDecision: z.number().int(),
  /** The caller's own requests still waiting. */
  myPending: z.number().int(),
});

/** Counts for the navigation. */
export const counts = procedure
  .meta({ permission: "approval:read" })
  .output(approvalsCountsOutput)
  .query(async ({ ctx }) => {
    const actor = requireActor(ctx);
    await expireApprovals(ctx.db, { notify: ctx.config.notify });
    const deciding = await decidingTeamIds(ctx.db, actor.userId);
    const [awaitingMyDecision, myPending] = await Promise.all([
      ctx.db.approvalRequest.count({
        where: { state: "pending", teamId: { in: deciding }, requestedById: { not: actor.userId } },
      }),
      ctx.db.approvalRequest.count({ where: { state: "pending", requestedById: actor.userId } }),
    ]);
    return { awaitingMyDecision, myPending };
  });
