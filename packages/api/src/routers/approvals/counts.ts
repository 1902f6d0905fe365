import { approvalCounts, approvalCountsView, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const approvalsCountsOutput = approvalCountsView;

/** Counts for the navigation. */
export const counts = procedure
  .meta({ permission: "approval:read" })
  .output(approvalsCountsOutput)
  .query(({ ctx }) => approvalCounts(ctx, requireActor(ctx)));
