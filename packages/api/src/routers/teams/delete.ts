import { deleteTeam, requireActor, teamDeleteRequest } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const teamsDeleteInput = teamDeleteRequest;

/** Deletes a team with its memberships, VM rules and open requests (the audit log keeps its history). */
export const remove = procedure
  .meta({ permission: "site:teams" })
  .input(teamsDeleteInput)
  .output(z.object({ deleted: z.literal(true) }))
  .mutation(({ ctx, input }) => deleteTeam(ctx, requireActor(ctx), input));
