import { AppError, requireActor, teamIdInput, teamSettings } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const teamsUpdateInput = z.object({
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

/**
 * Renames a team and sets its approval rules (site administrators only: a team must not be able to switch off
 * its own four-eyes rule).
 */
export const update = procedure
  .meta({ permission: "site:teams" })
  .input(teamsUpdateInput)
  .output(teamSettings)
  .mutation(async ({ ctx, input }) => {
    requireActor(ctx);
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
  });
