import { randomUUID } from "node:crypto";
import {
  AppError,
  keepOneAdmin,
  requireActor,
  requireTeamScope,
  teamIdInput,
  teamRole,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

const memberOutput = z.object({ userId: z.string(), name: z.string(), email: z.string(), role: teamRole });

export const addMemberInput = z.object({
  teamId: teamIdInput,
  email: z.string().trim().toLowerCase().pipe(z.email()),
  role: teamRole,
});

/** Adds an account to the team in a role (team admins and site administrators). */
export const addMember = procedure
  .meta({ permission: "team:manage" })
  .input(addMemberInput)
  .output(memberOutput)
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
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
    await ctx.db.membership.create({
      data: { id: randomUUID(), teamId: input.teamId, userId: user.id, role: input.role },
    });
    return { userId: user.id, name: user.name, email: user.email, role: input.role };
  });

export const setMemberRoleInput = z.object({
  teamId: teamIdInput,
  userId: z.string().min(1),
  role: teamRole,
});

/** Changes a member's role. */
export const setMemberRole = procedure
  .meta({ permission: "team:manage" })
  .input(setMemberRoleInput)
  .output(memberOutput)
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    ctx.audit.teamId = input.teamId;
    ctx.audit.targetType = "membership";
    ctx.audit.targetId = input.userId;
    requireTeamScope(actor, input.teamId);
    const m = await ctx.db.membership.findUnique({
      where: { teamId_userId: { teamId: input.teamId, userId: input.userId } },
      include: { user: true },
    });
    if (!m) throw new AppError("NOT_FOUND", "That account is not a member of this team.");
    ctx.audit.details = { email: m.user.email, from: m.role, to: input.role };
    if (m.role === "admin" && input.role !== "admin" && !actor.siteAdmin)
      await keepOneAdmin(ctx.db, input.teamId, input.userId);
    await ctx.db.membership.update({ where: { id: m.id }, data: { role: input.role } });
    return { userId: m.userId, name: m.user.name, email: m.user.email, role: input.role };
  });

export const removeMemberInput = z.object({ teamId: teamIdInput, userId: z.string().min(1) });

/** Removes a member from the team. */
export const removeMember = procedure
  .meta({ permission: "team:manage" })
  .input(removeMemberInput)
  .output(z.object({ removed: z.literal(true) }))
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    ctx.audit.teamId = input.teamId;
    ctx.audit.targetType = "membership";
    ctx.audit.targetId = input.userId;
    requireTeamScope(actor, input.teamId);
    const m = await ctx.db.membership.findUnique({
      where: { teamId_userId: { teamId: input.teamId, userId: input.userId } },
      include: { user: true },
    });
    if (!m) throw new AppError("NOT_FOUND", "That account is not a member of this team.");
    ctx.audit.details = { email: m.user.email, role: m.role };
    if (m.role === "admin" && !actor.siteAdmin) await keepOneAdmin(ctx.db, input.teamId, input.userId);
    await ctx.db.membership.delete({ where: { id: m.id } });
    return { removed: true as const };
  });
