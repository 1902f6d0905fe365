import type { Prisma } from "@lifeboat/db";
import { z } from "zod";
import type { Actor, ServiceContext } from "../context";
import { AppError } from "../errors";
import { page } from "../pages";
import { teamRowWhere } from "../vm-ownership";
import { decisionRefusal, loadDecider, mayDecideWhere, requestInScope } from "./deciders";
import { expireApprovals } from "./expire";
import { APPROVAL_STATES, type ApprovalView, approvalView, toApprovalView } from "./view";

/**
 * Reading approval requests. Each read first expires the requests past their deadline (their requesters are told),
 * so it takes the context's notification targets besides the catalog.
 */
type ReadContext = Pick<ServiceContext, "db" | "config">;

export const approvalListQuery = z.object({
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
export type ApprovalListQuery = z.infer<typeof approvalListQuery>;

export const approvalListPage = z.object({ items: z.array(approvalView), hasMore: z.boolean() });

/** Approval requests, newest first, never outside the actor's teams (or their own requests). */
export async function listApprovals(
  ctx: ReadContext,
  actor: Actor,
  input: ApprovalListQuery,
): Promise<z.infer<typeof approvalListPage>> {
  await expireApprovals(ctx.db, { notify: ctx.config.notify });
  const decider = await loadDecider(ctx.db, actor);
  const byView: Record<ApprovalListQuery["view"], Prisma.ApprovalRequestWhereInput> = {
    inbox: mayDecideWhere(decider),
    mine: { requestedById: actor.userId },
    // Also the requests of other teams that touch the caller's teams' VMs.
    team: actor.siteAdmin ? {} : { OR: [teamRowWhere(actor), { otherTeamIds: { hasSome: actor.teamIds } }] },
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
  // The inbox's query finds requests by role; whether the role counts for each (when, and who gave it) is
  // decided here, so a page may hold fewer rows than the limit.
  const shown = input.view === "inbox" ? items.filter((r) => decisionRefusal(r, decider) === null) : items;
  return { items: shown.map((r) => toApprovalView(r, actor, decider)), hasMore };
}

/** One request, for its team's members and its requester (NOT_FOUND for anyone else). */
export async function approvalDetail(ctx: ReadContext, actor: Actor, id: string): Promise<ApprovalView> {
  await expireApprovals(ctx.db, { notify: ctx.config.notify });
  const row = await ctx.db.approvalRequest.findUnique({
    where: { id },
    include: { team: { select: { name: true } } },
  });
  if (!row || !(requestInScope(actor, row) || row.requestedById === actor.userId))
    throw new AppError("NOT_FOUND", "No such approval request.");
  return toApprovalView(row, actor, await loadDecider(ctx.db, actor));
}

export const approvalCountsView = z.object({
  /** Pending requests the caller can decide (the navigation badge). */
  awaitingMyDecision: z.number().int(),
  /** The caller's own requests still waiting. */
  myPending: z.number().int(),
});

/** The navigation's counts: requests awaiting the actor's decision, and their own still waiting. */
export async function approvalCounts(
  ctx: ReadContext,
  actor: Actor,
): Promise<z.infer<typeof approvalCountsView>> {
  await expireApprovals(ctx.db, { notify: ctx.config.notify });
  const decider = await loadDecider(ctx.db, actor);
  const [candidates, myPending] = await Promise.all([
    ctx.db.approvalRequest.findMany({
      where: mayDecideWhere(decider),
      select: { teamId: true, requestedById: true, createdAt: true, otherTeamIds: true },
    }),
    ctx.db.approvalRequest.count({ where: { state: "pending", requestedById: actor.userId } }),
  ]);
  const awaitingMyDecision = candidates.filter((r) => decisionRefusal(r, decider) === null).length;
  return { awaitingMyDecision, myPending };
}
