import type { ApprovalRequest, Prisma } from "@lifeboat/db";
import { recordAudit } from "../audit";
import type { Actor, ServiceContext } from "../context";
import { AppError } from "../errors";
import { decisionRefusal, loadDecider, requestInScope } from "./deciders";
import { expireApprovals } from "./expire";
import { notifyOutcome } from "./notify";
import { approvalExecutorFor } from "./registry";
import { type ApprovalView, toApprovalView } from "./view";

export type Decision = "approve" | "reject";

type Row = ApprovalRequest & { team: { name: string } };

async function load(ctx: ServiceContext, actor: Actor, id: string): Promise<Row> {
  const row = await ctx.db.approvalRequest.findUnique({
    where: { id },
    include: { team: { select: { name: true } } },
  });
  // Visible to the members in scope of its team and of the other teams it touches, and to the requester;
  // everyone else learns nothing.
  if (!row || !(requestInScope(actor, row) || row.requestedById === actor.userId))
    throw new AppError("NOT_FOUND", "No such approval request.");
  return row;
}

function alreadyClosed(row: ApprovalRequest): AppError {
  if (row.state === "expired")
    return new AppError(
      "PRECONDITION_FAILED",
      `This request expired on ${row.expiresAt.toUTCString()}; nothing was run. Ask for a new one.`,
    );
  const by = row.decidedByEmail ? ` by ${row.decidedByName} <${row.decidedByEmail}>` : "";
  return new AppError("CONFLICT", `This request was already ${row.state}${by}.`);
}

/**
 * Approves or rejects a pending request, with a comment. Who may decide is `decisionRefusal`'s: a DIFFERENT
 * person's account than the requester's, holding the approver role (approver or admin) through a membership of
 * the owning team (being a site admin is not enough) — or, for a request touching other teams' VMs, a site
 * admin or an admin of each of those teams — with a role held before the request and not given by the
 * requester. Expired and decided requests are refused. The state change is one
 * conditional UPDATE (pending and not expired → decided), so of two simultaneous decisions exactly one wins and
 * the approved operation runs once. On approval the kind's executor runs (enqueues the job, applies the
 * change); if it fails, the request ends as `failed` and nothing else runs.
 */
export async function decideApproval(
  ctx: ServiceContext,
  input: { id: string; decision: Decision; comment: string },
): Promise<ApprovalView> {
  const actor = ctx.actor;
  if (!actor) throw new AppError("UNAUTHORIZED", "Sign in to continue.");
  return viewOf(ctx, actor, (await decide(ctx, input)).id);
}

/** The request as its viewer sees it after a decision. */
async function viewOf(ctx: ServiceContext, actor: Actor, id: string): Promise<ApprovalView> {
  const row = await ctx.db.approvalRequest.findUniqueOrThrow({
    where: { id },
    include: { team: { select: { name: true } } },
  });
  return toApprovalView(row, actor, await loadDecider(ctx.db, actor));
}

async function decide(
  ctx: ServiceContext,
  input: { id: string; decision: Decision; comment: string },
): Promise<ApprovalRequest> {
  const actor = ctx.actor;
  if (!actor) throw new AppError("UNAUTHORIZED", "Sign in to continue.");
  const comment = input.comment.trim();
  const row = await load(ctx, actor, input.id);
  ctx.audit.teamId = row.teamId;
  ctx.audit.targetType = "approval_request";
  ctx.audit.targetId = row.id;
  ctx.audit.details = {
    kind: row.kind,
    summary: row.summary,
    decision: input.decision,
    comment,
    requestedBy: { name: row.requestedByName, email: row.requestedByEmail },
  };
  if (!comment) throw new AppError("BAD_REQUEST", "Add a comment: every decision needs one.");
  const now = new Date();
  if (row.state === "pending" && row.expiresAt <= now) {
    await expireApprovals(ctx.db, { now, notify: ctx.config.notify });
    throw alreadyClosed({ ...row, state: "expired" });
  }
  if (row.state !== "pending") throw alreadyClosed(row);
  const teams = await ctx.db.team.findMany({
    where: { id: { in: [row.teamId, ...row.otherTeamIds] } },
    select: { id: true, name: true },
  });
  const refusal = decisionRefusal(
    row,
    await loadDecider(ctx.db, actor),
    new Map(teams.map((t) => [t.id, t.name])),
  );
  if (refusal) throw new AppError("FORBIDDEN", refusal);
  const registration = approvalExecutorFor(row.kind);
  if (input.decision === "approve" && !registration)
    throw new AppError("PRECONDITION_FAILED", `Lifeboat cannot run approved "${row.kind}" requests yet.`);

  const won = await ctx.db.approvalRequest.updateMany({
    where: { id: row.id, state: "pending", expiresAt: { gt: now }, requestedById: { not: actor.userId } },
    data: {
      state: input.decision === "approve" ? "approved" : "rejected",
      decidedById: actor.userId,
      decidedByName: actor.name,
      decidedByEmail: actor.email,
      decisionComment: comment.slice(0, 2000),
      decidedAt: now,
    },
  });
  if (won.count !== 1) {
    const current = await ctx.db.approvalRequest.findUniqueOrThrow({ where: { id: row.id } });
    throw alreadyClosed(current.state === "pending" ? { ...current, state: "expired" } : current);
  }
  let decided = await ctx.db.approvalRequest.findUniqueOrThrow({ where: { id: row.id } });
  if (input.decision === "approve" && registration)
    decided = await execute(ctx, actor, decided, registration);
  await notifyOutcome(ctx.db, ctx.config.notify, decided);
  return decided;
}

async function execute(
  ctx: ServiceContext,
  approver: Actor,
  row: ApprovalRequest,
  registration: NonNullable<ReturnType<typeof approvalExecutorFor>>,
): Promise<ApprovalRequest> {
  const audit = {
    action: "approval.executed",
    actorId: approver.userId,
    actorName: approver.name,
    actorEmail: approver.email,
    teamId: row.teamId,
    targetType: "approval_request",
    targetId: row.id,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
  };
  try {
    const payload = registration.payload ? registration.payload.parse(row.payload) : row.payload;
    const outcome = await registration.execute({
      db: ctx.db,
      queue: ctx.queue,
      request: row,
      payload,
      requester: { userId: row.requestedById, name: row.requestedByName, email: row.requestedByEmail },
      approver: { userId: approver.userId, name: approver.name, email: approver.email },
    });
    const done = await ctx.db.approvalRequest.update({
      where: { id: row.id },
      data: {
        executedAt: new Date(),
        jobId: outcome?.jobId ?? null,
        result: (outcome?.result ?? undefined) as Prisma.InputJsonValue | undefined,
      },
    });
    // The teams whose VMs it touched keep the fact in their own audit logs as well.
    for (const teamId of [row.teamId, ...row.otherTeamIds])
      await recordAudit(ctx.db, {
        ...audit,
        teamId,
        outcome: "success",
        details: { kind: row.kind, summary: row.summary, jobId: done.jobId, ...(outcome?.result ?? {}) },
      });
    return done;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (!(e instanceof AppError))
      console.error(`[approvals] executor for ${row.kind} failed on ${row.id}`, e);
    const failed = await ctx.db.approvalRequest.update({
      where: { id: row.id },
      data: { state: "failed", executionError: message.slice(0, 2000) },
    });
    for (const teamId of [row.teamId, ...row.otherTeamIds])
      await recordAudit(ctx.db, {
        ...audit,
        teamId,
        outcome: "failure",
        details: { kind: row.kind, error: message },
      });
    return failed;
  }
}

/** Withdraws the caller's own pending request; nothing runs. */
export async function cancelApproval(ctx: ServiceContext, id: string): Promise<ApprovalView> {
  const actor = ctx.actor;
  if (!actor) throw new AppError("UNAUTHORIZED", "Sign in to continue.");
  return viewOf(ctx, actor, (await withdraw(ctx, actor, id)).id);
}

async function withdraw(ctx: ServiceContext, actor: Actor, id: string): Promise<ApprovalRequest> {
  const row = await load(ctx, actor, id);
  ctx.audit.teamId = row.teamId;
  ctx.audit.targetType = "approval_request";
  ctx.audit.targetId = row.id;
  ctx.audit.details = { kind: row.kind, summary: row.summary };
  if (row.requestedById !== actor.userId)
    throw new AppError("FORBIDDEN", "Only the person who asked can withdraw a request.");
  const won = await ctx.db.approvalRequest.updateMany({
    where: { id: row.id, state: "pending", expiresAt: { gt: new Date() } },
    data: { state: "cancelled" },
  });
  if (won.count !== 1) {
    await expireApprovals(ctx.db, { notify: ctx.config.notify });
    throw alreadyClosed(await ctx.db.approvalRequest.findUniqueOrThrow({ where: { id: row.id } }));
  }
  return ctx.db.approvalRequest.findUniqueOrThrow({ where: { id: row.id } });
}
