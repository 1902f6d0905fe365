import { requireActor, runNowRequest, runNowResult, startPolicyRunNow } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const runNowInput = runNowRequest;
export const runNowOutput = runNowResult;

/** Starts the policy's backup (or verify) run now, outside its schedule (operators and admins). */
export const runNow = procedure
  .meta({ permission: "backup:create" })
  .input(runNowInput)
  .output(runNowOutput)
  .mutation(({ ctx, input }) => startPolicyRunNow(ctx, requireActor(ctx), input));
