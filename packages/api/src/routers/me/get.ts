import { requireActor, TEAM_ROLES } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const meOutput = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string(),
  siteAdmin: z.boolean(),
  mustChangePassword: z.boolean(),
  teams: z.array(z.object({ id: z.string(), name: z.string(), role: z.enum(TEAM_ROLES) })),
});

/** The caller's own account and team roles (drives the navigation). */
export const get = procedure
  .meta({ permission: "authenticated" })
  .output(meOutput)
  .query(async ({ ctx }) => {
    const actor = requireActor(ctx);
    const user = await ctx.db.user.findUniqueOrThrow({
      where: { id: actor.userId },
      include: { memberships: { include: { team: true }, orderBy: { team: { name: "asc" } } } },
    });
    return {
      id: user.id,
      name: user.name,
      email: user.email,
      siteAdmin: actor.siteAdmin,
      mustChangePassword: user.mustChangePassword,
      teams: user.memberships.map((m) => ({
        id: m.team.id,
        name: m.team.name,
        role: z.enum(TEAM_ROLES).parse(m.role),
      })),
    };
  });
