import { listTeams, requireActor, teamListView } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const teamsListOutput = teamListView;

/** The caller's teams; every team for site administrators. */
export const list = procedure
  .meta({ permission: "authenticated" })
  .output(teamsListOutput)
  .query(({ ctx }) => listTeams(ctx.db, requireActor(ctx)));
