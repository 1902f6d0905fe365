import { createTeam, requireActor, teamCreateRequest, teamSettings } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const teamsCreateInput = teamCreateRequest;

/** Creates a team (site administrators), optionally with its first admin. */
export const create = procedure
  .meta({ permission: "site:teams" })
  .input(teamsCreateInput)
  .output(teamSettings)
  .mutation(({ ctx, input }) => createTeam(ctx, requireActor(ctx), input));
