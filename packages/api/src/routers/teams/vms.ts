import { requireActor, teamVms, teamVmsQuery, teamVmsView } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const teamsVmsInput = teamVmsQuery;
export const teamsVmsOutput = teamVmsView;

/** The VMs the team's rules give it (what its members see and act on). */
export const vms = procedure
  .meta({ permission: "vm:read" })
  .input(teamsVmsInput)
  .output(teamsVmsOutput)
  .query(({ ctx, input }) => teamVms(ctx.db, requireActor(ctx), input));
