import { randomBytes, randomUUID } from "node:crypto";
import { AppError, requireActor, teamSettings } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const teamsCreateInput = z.object({
  name: z.string().trim().min(1).max(100),
  /** Its first admin (optional): manages members and requests VM rules. */
  adminEmail: z.string().trim().toLowerCase().pipe(z.email()).optional(),
});

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
export const create = procedure
  .meta({ permission: "site:teams" })
  .input(teamsCreateInput)
  .output(teamSettings)
  .mutation(async ({ ctx, input }) => {
    requireActor(ctx);
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
        ...(admin ? { memberships: { create: { id: randomUUID(), userId: admin.id, role: "admin" } } } : {}),
      },
    });
    ctx.audit.teamId = team.id;
    ctx.audit.targetType = "team";
    ctx.audit.targetId = team.id;
    ctx.audit.details = { name: team.name, ...(admin ? { admin: admin.email } : {}) };
    return team;
  });
