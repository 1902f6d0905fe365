import { randomUUID } from "node:crypto";
import { z } from "zod";
import { requestApproval } from "./approvals";
import type { Actor, ServiceContext } from "./context";
import { AppError } from "./errors";
import { grantedBy, roleGrantorInclude, roleGrantView, toRoleGrantView } from "./role-grants";
import { keepOneAdmin, teamIdInput, teamRole } from "./teams";
import {
  otherTeamVms,
  requireTeamScope,
  type VmRuleChange,
  validateVmRuleChange,
  vmRuleInput,
} from "./vm-ownership";

/** A team's members and the VMs its rules give it, as team admins (and site administrators) manage them. */

export const teamMemberView = z
  .object({
    userId: z.string(),
    name: z.string(),
    email: z.string(),
    role: teamRole,
  })
  .extend(roleGrantView.shape);
export type TeamMemberView = z.infer<typeof teamMemberView>;

export const addMemberRequest = z.object({
  teamId: teamIdInput,
  email: z.string().trim().toLowerCase().pipe(z.email()),
  role: teamRole,
});
export type AddMemberRequest = z.infer<typeof addMemberRequest>;

/** Adds an account to the team in a role (team admins and site administrators). */
export async function addTeamMember(
  ctx: ServiceContext,
  actor: Actor,
  input: AddMemberRequest,
): Promise<TeamMemberView> {
  ctx.audit.teamId = input.teamId;
  ctx.audit.targetType = "membership";
  requireTeamScope(actor, input.teamId);
  const user = await ctx.db.user.findUnique({ where: { email: input.email } });
  if (!user)
    throw new AppError("NOT_FOUND", `No account has the e-mail ${input.email}; ask a site administrator.`);
  ctx.audit.targetId = user.id;
  ctx.audit.details = { email: user.email, role: input.role };
  const existing = await ctx.db.membership.findUnique({
    where: { teamId_userId: { teamId: input.teamId, userId: user.id } },
  });
  if (existing) throw new AppError("CONFLICT", `${user.email} is already a member (${existing.role}).`);
  const grant = grantedBy(actor);
  await ctx.db.membership.create({
    data: { id: randomUUID(), teamId: input.teamId, userId: user.id, role: input.role, ...grant },
  });
  return {
    userId: user.id,
    name: user.name,
    email: user.email,
    role: input.role,
    grantedBy: { id: actor.userId, name: actor.name, email: actor.email },
    grantedAt: grant.roleGrantedAt,
  };
}

export const memberRequest = z.object({ teamId: teamIdInput, userId: z.string().min(1) });
export type MemberRequest = z.infer<typeof memberRequest>;
export const setMemberRoleRequest = memberRequest.extend({ role: teamRole });
export type SetMemberRoleRequest = z.infer<typeof setMemberRoleRequest>;

/** The membership a change is about, with the audit facts every member change notes first. */
async function loadMembership(ctx: ServiceContext, actor: Actor, input: MemberRequest) {
  ctx.audit.teamId = input.teamId;
  ctx.audit.targetType = "membership";
  ctx.audit.targetId = input.userId;
  requireTeamScope(actor, input.teamId);
  const m = await ctx.db.membership.findUnique({
    where: { teamId_userId: { teamId: input.teamId, userId: input.userId } },
    include: { user: true },
  });
  if (!m) throw new AppError("NOT_FOUND", "That account is not a member of this team.");
  return m;
}

/** Changes a member's role. */
export async function setTeamMemberRole(
  ctx: ServiceContext,
  actor: Actor,
  input: SetMemberRoleRequest,
): Promise<TeamMemberView> {
  const m = await loadMembership(ctx, actor, input);
  ctx.audit.details = { email: m.user.email, from: m.role, to: input.role };
  if (m.role === "admin" && input.role !== "admin" && !actor.siteAdmin)
    await keepOneAdmin(ctx.db, input.teamId, input.userId);
  // Setting the same role again keeps its grant facts (who gave it, and since when it is held).
  const now = await ctx.db.membership.update({
    where: { id: m.id },
    data: m.role === input.role ? {} : { role: input.role, ...grantedBy(actor) },
    include: roleGrantorInclude,
  });
  return {
    userId: m.userId,
    name: m.user.name,
    email: m.user.email,
    role: input.role,
    ...toRoleGrantView(now),
  };
}

/** Removes a member from the team. */
export async function removeTeamMember(
  ctx: ServiceContext,
  actor: Actor,
  input: MemberRequest,
): Promise<{ removed: true }> {
  const m = await loadMembership(ctx, actor, input);
  ctx.audit.details = { email: m.user.email, role: m.role };
  if (m.role === "admin" && !actor.siteAdmin) await keepOneAdmin(ctx.db, input.teamId, input.userId);
  await ctx.db.membership.delete({ where: { id: m.id } });
  return { removed: true as const };
}

export const vmRuleChangeRequest = z.object({
  teamId: teamIdInput,
  change: z.discriminatedUnion("op", [
    z.object({ op: z.literal("add"), rule: vmRuleInput }),
    z.object({ op: z.literal("remove"), ruleId: z.string().min(1) }),
  ]),
  /** Why: approvers read it. */
  reason: z.string().trim().min(1, "Say why: a reason is required.").max(2000),
});
export type VmRuleChangeRequest = z.infer<typeof vmRuleChangeRequest>;
export const vmRuleChangeRequested = z.object({
  approvalRequestId: z.string(),
  summary: z.string(),
  expiresAt: z.date(),
  /** Other teams whose VMs an added rule would share (a site administrator or their admin decides). */
  otherTeams: z.array(otherTeamVms),
});
export type VmRuleChangeRequested = z.infer<typeof vmRuleChangeRequested>;

/**
 * Asks for a change of the VMs a team owns (a rule added or removed). It never applies at once: another
 * approver of the team must approve it (four eyes), then the rule changes and ownership is recomputed. A rule
 * that matches VMs other teams own would share them: the request names those teams and VMs, and a site
 * administrator or an admin of each of those teams decides it (they are told, and their audit logs record it).
 */
export async function requestTeamVmRuleChange(
  ctx: ServiceContext,
  actor: Actor,
  input: VmRuleChangeRequest,
): Promise<VmRuleChangeRequested> {
  ctx.audit.teamId = input.teamId;
  requireTeamScope(actor, input.teamId);
  const change: VmRuleChange = { teamId: input.teamId, ...input.change };
  const { summary, otherTeams } = await validateVmRuleChange(ctx.db, change);
  const req = await requestApproval(ctx, {
    teamId: input.teamId,
    kind: "team.assignment",
    payload: change.op === "add" && otherTeams.length > 0 ? { ...change, otherTeams } : change,
    otherTeamIds: otherTeams.map((t) => t.teamId),
    summary,
    reason: input.reason,
    target:
      change.op === "remove"
        ? { type: "team_vm_rule", id: change.ruleId }
        : { type: "team", id: input.teamId },
  });
  ctx.audit.targetType = "approval_request";
  ctx.audit.targetId = req.id;
  return { approvalRequestId: req.id, summary, expiresAt: req.expiresAt, otherTeams };
}
