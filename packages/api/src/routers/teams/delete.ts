import { AppError, requireActor, teamIdInput } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const teamsDeleteInput = z.object({
  teamId: teamIdInput,
  /** The team's name, typed again: deleting ends every member's access to its VMs and restore points. */
  confirmName: z.string(),
});

/** Deletes a team with its memberships, VM rules and open requests (the audit log keeps its history). */
export const remove = procedure
  .meta({ permission: "site:teams" })
  .input(teamsDeleteInput)
  .output(z.object({ deleted: z.literal(true) }))
  .mutation(async ({ ctx, input }) => {
    requireActor(ctx);
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
  });
