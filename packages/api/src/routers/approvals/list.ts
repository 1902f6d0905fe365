import { approvalListPage, approvalListQuery, listApprovals, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const approvalsListInput = approvalListQuery;
export const approvalsListOutput = approvalListPage;

/** Approval requests, newest first, never outside the caller's teams (or their own requests). */
export const list = procedure
  .meta({ permission: "approval:read" })
  .input(approvalsListInput)
  .output(approvalsListOutput)
  .query(({ ctx, input }) => listApprovals(ctx, requireActor(ctx), input));
