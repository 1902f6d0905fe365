import type { Prisma } from "@lifeboat/db";
import { recordAudit } from "../audit";
import type { ServiceContext } from "../context";
import { AppError } from "../errors";
import { notifyRequested } from "./notify";
import { type ApprovalKind, approvalExecutorFor } from "./registry";

export interface ApprovalRequestInput {
  /** The team that owns the target; its approvers decide. */
  teamId: string;
  kind: ApprovalKind;
  /** What will run on approval (the executor gets it back, validated again). */
  payload: Record<string, unknown>;
  /** One line approvers read first, e.g. "Restore web01 over the existing VM (restore point of 3 May)". */
  summary: string;
  /** Why — required. */
  reason: string;
  target?: { type: string; id: string };
  /**
   * Other teams whose VMs the operation touches: a site administrator or an admin of each of them decides it
   * instead of the team's approvers, and their audit logs and admins hear of it.
   */
  otherTeamIds?: string[];
}

export interface RequestedApproval {
  id: string;
  state: "pending";
  expiresAt: Date;
}

/**
 * Files a four-eyes request instead of running an operation. Call it from the procedure that would have run
 * the operation, after its own permission and scope checks: the caller must act for `teamId` (member, or site
 * admin). Records who asked (name and e-mail), why, and when it expires (the team's approvalTtlHours), writes
 * the `approval.requested` audit row and notifies the team's approvers. Nothing runs until another approver of
 * the team approves.
 */
export async function requestApproval(
  ctx: ServiceContext,
  input: ApprovalRequestInput,
): Promise<RequestedApproval> {
  const actor = ctx.actor;
  if (!actor) throw new AppError("UNAUTHORIZED", "Sign in to continue.");
  const reason = input.reason.trim();
  if (!reason) throw new AppError("BAD_REQUEST", "Say why: a reason is required for every approval request.");
  if (reason.length > 2000) throw new AppError("BAD_REQUEST", "Keep the reason under 2000 characters.");
  const summary = input.summary.trim().slice(0, 300);
  const registration = approvalExecutorFor(input.kind);
  if (!registration)
    throw new AppError("PRECONDITION_FAILED", `Lifeboat cannot run approved "${input.kind}" requests yet.`);
  let payload: unknown = input.payload;
  if (registration.payload) {
    const parsed = registration.payload.safeParse(input.payload);
    if (!parsed.success)
      throw new AppError("BAD_REQUEST", `The request is incomplete: ${parsed.error.message}`);
    payload = parsed.data;
  }
  const team = await ctx.db.team.findUnique({ where: { id: input.teamId } });
  if (!team) throw new AppError("NOT_FOUND", "No such team.");
  if (!actor.siteAdmin) {
    const member = await ctx.db.membership.findUnique({
      where: { teamId_userId: { teamId: team.id, userId: actor.userId } },
    });
    if (!member) throw new AppError("FORBIDDEN", `You are not a member of the team ${team.name}.`);
  }
  const otherTeamIds = [...new Set(input.otherTeamIds ?? [])].filter((id) => id !== team.id).sort();
  // This process's clock, as for the role grants the request is compared with (the database's may differ).
  const createdAt = new Date();
  const expiresAt = new Date(createdAt.getTime() + team.approvalTtlHours * 3600_000);
  const row = await ctx.db.approvalRequest.create({
    data: {
      teamId: team.id,
      kind: input.kind,
      payload: payload as Prisma.InputJsonValue,
      summary,
      reason,
      targetType: input.target?.type ?? null,
      targetId: input.target?.id ?? null,
      requestedById: actor.userId,
      requestedByName: actor.name,
      requestedByEmail: actor.email,
      createdAt,
      expiresAt,
      otherTeamIds,
    },
  });
  ctx.audit.details = { ...ctx.audit.details, approvalRequestId: row.id };
  ctx.audit.teamId ??= team.id;
  // One row in each touched team's audit log too: the request is about their VMs.
  for (const teamId of [team.id, ...otherTeamIds])
    await recordAudit(ctx.db, {
      action: "approval.requested",
      outcome: "success",
      actorId: actor.userId,
      actorName: actor.name,
      actorEmail: actor.email,
      teamId,
      targetType: "approval_request",
      targetId: row.id,
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      details: {
        kind: row.kind,
        summary,
        reason,
        expiresAt: expiresAt.toISOString(),
        ...(input.target ? { target: input.target } : {}),
        ...(otherTeamIds.length > 0
          ? { requestingTeam: { id: team.id, name: team.name }, otherTeamIds }
          : {}),
      },
    });
  await notifyRequested(ctx.db, ctx.config.notify, row);
  return { id: row.id, state: "pending", expiresAt };
}
