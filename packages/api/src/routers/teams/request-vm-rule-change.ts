import {
  requestTeamVmRuleChange,
  requireActor,
  vmRuleChangeRequest,
  vmRuleChangeRequested,
} from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const requestVmRuleChangeInput = vmRuleChangeRequest;
export const requestVmRuleChangeOutput = vmRuleChangeRequested;

/**
 * Asks for a change of the VMs a team owns (a rule added or removed). It never applies at once: another
 * approver of the team must approve it (four eyes), then the rule changes and ownership is recomputed.
 */
export const requestVmRuleChange = procedure
  .meta({ permission: "team:manage" })
  .input(requestVmRuleChangeInput)
  .output(requestVmRuleChangeOutput)
  .mutation(({ ctx, input }) => requestTeamVmRuleChange(ctx, requireActor(ctx), input));
