import { requestRestorePointDeletion, requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const requestPointDeletionInput = z.object({
  restorePointId: z.string().min(1).max(100),
  /** The team the request is for, when several own the VM. */
  teamId: z.string().max(100).optional(),
  reason: z.string().trim().min(1, "Say why: a reason is required.").max(2000),
});
export const requestPointDeletionOutput = z.object({ approvalRequestId: z.string(), expiresAt: z.date() });

/** Asks for one restore point to be deleted by hand; another approver of the team must approve. */
export const requestPointDeletion = procedure
  .meta({ permission: "backup:create" })
  .input(requestPointDeletionInput)
  .output(requestPointDeletionOutput)
  .mutation(({ ctx, input }) => requestRestorePointDeletion(ctx, requireActor(ctx), input));
