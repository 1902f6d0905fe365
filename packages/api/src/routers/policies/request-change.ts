import {
  policyChangeRequest,
  policyChangeRequested,
  requestPolicyChange,
  requireActor,
} from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const requestChangeInput = policyChangeRequest;
export const requestChangeOutput = policyChangeRequested;

/**
 * Asks for a policy to be created, changed (paused and resumed included) or deleted. It never applies at once:
 * another approver of the team must approve (four eyes); the change is validated now and again on approval.
 */
export const requestChange = procedure
  .meta({ permission: "policy:manage" })
  .input(requestChangeInput)
  .output(requestChangeOutput)
  .mutation(({ ctx, input }) => requestPolicyChange(ctx, requireActor(ctx), input));
