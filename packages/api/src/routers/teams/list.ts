import { requireActor, teamRole } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const teamsListOutput = z.array(
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

/** The caller's teams; every team for site administrators. */
export const list = procedure
  .meta({ permission: "authenticated" })
  .output(teamsListOutput)
  .query(async ({ ctx }) => {
    const actor = requireActor(ctx);
    const teams = await ctx.db.team.findMany({
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
  });
