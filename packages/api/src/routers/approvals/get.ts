import { approvalDetail, approvalView, requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const approvalsGetInput = z.object({ id: z.string().min(1) });

/** One request, for its team's members and its requester. */
export const get = procedure
  .meta({ permission: "approval:read" })
  .input(approvalsGetInput)
  .output(approvalView)
  .query(({ ctx, input }) => approvalDetail(ctx, requireActor(ctx), input.id));
