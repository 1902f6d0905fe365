import { requireActor, teamSettings, teamUpdateRequest, updateTeam } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const teamsUpdateInput = teamUpdateRequest;

/**
 * Renames a team and sets its approval rules (site administrators only: a team must not be able to switch off
 * its own four-eyes rule).
 */
export const update = procedure
  .meta({ permission: "site:teams" })
  .input(teamsUpdateInput)
  .output(teamSettings)
  .mutation(({ ctx, input }) => updateTeam(ctx, requireActor(ctx), input));
