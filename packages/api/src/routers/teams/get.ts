import {
  AppError,
  describeVmRule,
  requireActor,
  requireTeamScope,
  roleGrants,
  teamIdInput,
  teamRole,
  teamSettings,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const teamsGetInput = z.object({ teamId: teamIdInput });
export const teamsGetOutput = z.object({
  team: teamSettings,
  myRole: teamRole.nullable(),
  /** The caller manages members and VM rules (team admin or site admin). */
  canManage: z.boolean(),
  /** The caller changes the team's settings, renames or deletes it (site admin). */
  canAdminister: z.boolean(),
  members: z.array(
    z.object({
      userId: z.string(),
      name: z.string(),
      email: z.string(),
      role: teamRole,
      disabled: z.boolean(),
    }),
  ),
  rules: z.array(
    z.object({
      id: z.string(),
      kind: z.enum(["vm", "tag", "name-pattern"]),
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

/** A team with its members, VM rules and settings, for its members. */
export const get = procedure
  .meta({ permission: "team:read" })
  .input(teamsGetInput)
  .output(teamsGetOutput)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    requireTeamScope(actor, input.teamId);
    const team = await ctx.db.team.findUnique({
      where: { id: input.teamId },
      include: {
        memberships: { include: { user: true }, orderBy: { user: { name: "asc" } } },
        vmRules: { orderBy: { createdAt: "asc" } },
        _count: { select: { vmTeams: true } },
      },
    });
    if (!team) throw new AppError("NOT_FOUND", "No such team.");
    const engines = await ctx.db.engine.findMany({
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
      })),
      rules: team.vmRules.map((r) => ({
        id: r.id,
        kind: z.enum(["vm", "tag", "name-pattern"]).parse(r.kind),
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
  });
