import { requireActor, teamDetail, teamDetailView, teamIdInput } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const teamsGetInput = z.object({ teamId: teamIdInput });
export const teamsGetOutput = teamDetailView;

/** A team with its members, VM rules and settings, for its members. */
export const get = procedure
  .meta({ permission: "team:read" })
  .input(teamsGetInput)
  .output(teamsGetOutput)
  .query(({ ctx, input }) => teamDetail(ctx.db, requireActor(ctx), input));
