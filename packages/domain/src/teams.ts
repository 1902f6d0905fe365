import { randomBytes, randomUUID } from "node:crypto";
import type { Db } from "@lifeboat/db";
import { z } from "zod";
import type { Actor, ServiceContext } from "./context";
import { AppError } from "./errors";
import { page } from "./pages";
import { roleGrants, TEAM_ROLES } from "./permissions";
import { grantedBy, roleGrantorInclude, roleGrantView, toRoleGrantView } from "./role-grants";
import { describeVmRule, requireTeamScope } from "./vm-ownership";

export const teamRole = z.enum(TEAM_ROLES);
export const teamIdInput = z.string().min(1).max(100);

export const teamSettings = z.object({
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  requireApprovalForRestores: z.boolean(),
  requireApprovalForDownloads: z.boolean(),
  approvalTtlHours: z.number().int(),
  createdAt: z.date(),
});
export type TeamSettings = z.infer<typeof teamSettings>;

/** Refuses a change that would leave a team that has admins without any (only site admins may do that). */
export async function keepOneAdmin(db: Db, teamId: string, leavingUserId: string): Promise<void> {
  const admins = await db.membership.findMany({ where: { teamId, role: "admin" }, select: { userId: true } });
  if (admins.length === 1 && admins[0]?.userId === leavingUserId)
    throw new AppError("BAD_REQUEST", "A team needs at least one admin: make someone else admin first.");
}

// ---------------------------------------------------------------- create, change, delete (site admins)

export const teamCreateRequest = z.object({
  name: z.string().trim().min(1).max(100),
  /** Its first admin (optional): manages members and requests VM rules. */
  adminEmail: z.string().trim().toLowerCase().pipe(z.email()).optional(),
});
export type TeamCreateRequest = z.infer<typeof teamCreateRequest>;

function slugOf(name: string): string {
  const base = name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  return base || "team";
}

/** Creates a team (site administrators), optionally with its first admin. */
export async function createTeam(
  ctx: ServiceContext,
  actor: Actor,
  input: TeamCreateRequest,
): Promise<TeamSettings> {
  if (await ctx.db.team.findFirst({ where: { name: { equals: input.name, mode: "insensitive" } } }))
    throw new AppError("CONFLICT", `A team named ${input.name} already exists.`);
  const admin = input.adminEmail
    ? await ctx.db.user.findUnique({ where: { email: input.adminEmail } })
    : null;
  if (input.adminEmail && !admin)
    throw new AppError("NOT_FOUND", `No account has the e-mail ${input.adminEmail}.`);
  let slug = slugOf(input.name);
  if (await ctx.db.team.findUnique({ where: { slug } })) slug = `${slug}-${randomBytes(3).toString("hex")}`;
  const team = await ctx.db.team.create({
    data: {
      id: randomUUID(),
      name: input.name,
      slug,
      ...(admin
        ? {
            memberships: {
              create: { id: randomUUID(), userId: admin.id, role: "admin", ...grantedBy(actor) },
            },
          }
        : {}),
    },
  });
  ctx.audit.teamId = team.id;
  ctx.audit.targetType = "team";
  ctx.audit.targetId = team.id;
  ctx.audit.details = { name: team.name, ...(admin ? { admin: admin.email } : {}) };
  return team;
}

export const teamUpdateRequest = z.object({
  teamId: teamIdInput,
  name: z.string().trim().min(1).max(100).optional(),
  requireApprovalForRestores: z.boolean().optional(),
  requireApprovalForDownloads: z.boolean().optional(),
  /** How long a request waits for a decision (1 hour to 30 days). */
  approvalTtlHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 30)
    .optional(),
});
export type TeamUpdateRequest = z.infer<typeof teamUpdateRequest>;

/**
 * Renames a team and sets its approval rules (site administrators only: a team must not be able to switch off
 * its own four-eyes rule).
 */
export async function updateTeam(
  ctx: ServiceContext,
  _actor: Actor,
  input: TeamUpdateRequest,
): Promise<TeamSettings> {
  ctx.audit.teamId = input.teamId;
  ctx.audit.targetType = "team";
  ctx.audit.targetId = input.teamId;
  const team = await ctx.db.team.findUnique({ where: { id: input.teamId } });
  if (!team) throw new AppError("NOT_FOUND", "No such team.");
  if (
    input.name &&
    input.name !== team.name &&
    (await ctx.db.team.findFirst({
      where: { name: { equals: input.name, mode: "insensitive" }, id: { not: team.id } },
    }))
  )
    throw new AppError("CONFLICT", `A team named ${input.name} already exists.`);
  const { teamId: _, ...data } = input;
  const changes = Object.fromEntries(
    Object.entries(data).filter(([k, v]) => v !== undefined && team[k as keyof typeof team] !== v),
  );
  ctx.audit.details = { name: team.name, changes };
  return ctx.db.team.update({ where: { id: team.id }, data });
}

export const teamDeleteRequest = z.object({
  teamId: teamIdInput,
  /** The team's name, typed again: deleting ends every member's access to its VMs and restore points. */
  confirmName: z.string(),
});
export type TeamDeleteRequest = z.infer<typeof teamDeleteRequest>;

/** Deletes a team with its memberships, VM rules and open requests (the audit log keeps its history). */
export async function deleteTeam(
  ctx: ServiceContext,
  _actor: Actor,
  input: TeamDeleteRequest,
): Promise<{ deleted: true }> {
  ctx.audit.teamId = input.teamId;
  ctx.audit.targetType = "team";
  ctx.audit.targetId = input.teamId;
  const team = await ctx.db.team.findUnique({ where: { id: input.teamId } });
  if (!team) throw new AppError("NOT_FOUND", "No such team.");
  if (input.confirmName.trim() !== team.name)
    throw new AppError("BAD_REQUEST", `Type the team's name (${team.name}) to confirm.`);
  ctx.audit.details = { name: team.name };
  await ctx.db.team.delete({ where: { id: team.id } });
  return { deleted: true as const };
}

// ---------------------------------------------------------------- views

export const teamListView = z.array(
  z.object({
    id: z.string(),
    name: z.string(),
    slug: z.string(),
    /** The caller's role, or null (site admins see every team). */
    role: teamRole.nullable(),
    memberCount: z.number().int(),
    vmCount: z.number().int(),
    pendingApprovals: z.number().int(),
  }),
);
export type TeamListView = z.infer<typeof teamListView>;

/** The caller's teams; every team for site administrators. */
export async function listTeams(db: Db, actor: Actor): Promise<TeamListView> {
  const teams = await db.team.findMany({
    where: actor.siteAdmin ? {} : { memberships: { some: { userId: actor.userId } } },
    include: {
      memberships: { where: { userId: actor.userId }, select: { role: true } },
      _count: {
        select: { memberships: true, vmTeams: true, approvalRequests: { where: { state: "pending" } } },
      },
    },
    orderBy: { name: "asc" },
  });
  return teams.map((t) => ({
    id: t.id,
    name: t.name,
    slug: t.slug,
    role: t.memberships[0] ? teamRole.parse(t.memberships[0].role) : null,
    memberCount: t._count.memberships,
    vmCount: t._count.vmTeams,
    pendingApprovals: t._count.approvalRequests,
  }));
}

const vmRuleKind = z.enum(["vm", "tag", "name-pattern"]);

export const teamDetailView = z.object({
  team: teamSettings,
  myRole: teamRole.nullable(),
  /** The caller manages members and VM rules (team admin or site admin). */
  canManage: z.boolean(),
  /** The caller changes the team's settings, renames or deletes it (site admin). */
  canAdminister: z.boolean(),
  members: z.array(
    z
      .object({
        userId: z.string(),
        name: z.string(),
        email: z.string(),
        role: teamRole,
        disabled: z.boolean(),
      })
      /** Who gave the member their role, and when. */
      .extend(roleGrantView.shape),
  ),
  rules: z.array(
    z.object({
      id: z.string(),
      kind: vmRuleKind,
      engineId: z.string().nullable(),
      engineName: z.string().nullable(),
      vmId: z.string().nullable(),
      tag: z.string().nullable(),
      pattern: z.string().nullable(),
      description: z.string(),
      createdAt: z.date(),
    }),
  ),
  /** Engines a rule can name. */
  engines: z.array(z.object({ id: z.string(), name: z.string() })),
  vmCount: z.number().int(),
});
export type TeamDetailView = z.infer<typeof teamDetailView>;

/** A team with its members, VM rules and settings, for its members. */
export async function teamDetail(db: Db, actor: Actor, input: { teamId: string }): Promise<TeamDetailView> {
  requireTeamScope(actor, input.teamId);
  const team = await db.team.findUnique({
    where: { id: input.teamId },
    include: {
      memberships: {
        include: { user: true, ...roleGrantorInclude },
        orderBy: { user: { name: "asc" } },
      },
      vmRules: { orderBy: { createdAt: "asc" } },
      _count: { select: { vmTeams: true } },
    },
  });
  if (!team) throw new AppError("NOT_FOUND", "No such team.");
  const engines = await db.engine.findMany({
    select: { id: true, name: true },
    orderBy: { name: "asc" },
  });
  const engineName = new Map(engines.map((e) => [e.id, e.name]));
  const mine = team.memberships.find((m) => m.userId === actor.userId);
  return {
    team: {
      id: team.id,
      name: team.name,
      slug: team.slug,
      requireApprovalForRestores: team.requireApprovalForRestores,
      requireApprovalForDownloads: team.requireApprovalForDownloads,
      approvalTtlHours: team.approvalTtlHours,
      createdAt: team.createdAt,
    },
    myRole: mine ? teamRole.parse(mine.role) : null,
    canManage: actor.siteAdmin || (mine ? roleGrants(mine.role, "team:manage") : false),
    canAdminister: actor.siteAdmin,
    members: team.memberships.map((m) => ({
      userId: m.userId,
      name: m.user.name,
      email: m.user.email,
      role: teamRole.parse(m.role),
      disabled: m.user.banned === true,
      ...toRoleGrantView(m),
    })),
    rules: team.vmRules.map((r) => ({
      id: r.id,
      kind: vmRuleKind.parse(r.kind),
      engineId: r.engineId,
      engineName: r.engineId ? (engineName.get(r.engineId) ?? null) : null,
      vmId: r.vmId,
      tag: r.tag,
      pattern: r.pattern,
      description: describeVmRule(r, r.engineId ? engineName.get(r.engineId) : null),
      createdAt: r.createdAt,
    })),
    engines,
    vmCount: team._count.vmTeams,
  };
}

export const teamVmsQuery = z.object({
  teamId: teamIdInput,
  search: z.string().trim().max(200).optional(),
  /** The id of the last VM of the previous page. */
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export type TeamVmsQuery = z.infer<typeof teamVmsQuery>;
export const teamVmsView = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      engineId: z.string(),
      engineName: z.string(),
      vmId: z.string(),
      name: z.string(),
      status: z.string().nullable(),
      tags: z.array(z.string()),
      gone: z.boolean(),
    }),
  ),
  hasMore: z.boolean(),
});
export type TeamVmsView = z.infer<typeof teamVmsView>;

/** The VMs the team's rules give it (what its members see and act on). */
export async function teamVms(db: Db, actor: Actor, input: TeamVmsQuery): Promise<TeamVmsView> {
  requireTeamScope(actor, input.teamId);
  const rows = await db.vm.findMany({
    where: {
      teams: { some: { teamId: input.teamId } },
      ...(input.search ? { name: { contains: input.search, mode: "insensitive" } } : {}),
    },
    include: { engine: { select: { name: true } } },
    orderBy: [{ name: "asc" }, { id: "asc" }],
    ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
    take: input.limit + 1,
  });
  const { items, hasMore } = page(rows, input.limit);
  return {
    items: items.map((v) => ({
      id: v.id,
      engineId: v.engineId,
      engineName: v.engine.name,
      vmId: v.vmId,
      name: v.name,
      status: v.status,
      tags: v.tags,
      gone: v.goneAt !== null,
    })),
    hasMore,
  };
}
