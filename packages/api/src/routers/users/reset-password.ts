import {
  requireActor,
  resetUserPassword,
  userPasswordReset,
  userPasswordResetRequest,
} from "@lifeboat/domain";
import { accountAuth } from "../../accounts";
import { procedure } from "../../trpc";

export const usersResetPasswordInput = userPasswordResetRequest;
export const usersResetPasswordOutput = userPasswordReset;

/**
 * Gives an account a new temporary password (shown once): its sessions end and the next sign-in must choose a
 * new password.
 */
export const resetPassword = procedure
  .meta({ permission: "site:users" })
  .input(usersResetPasswordInput)
  .output(usersResetPasswordOutput)
  .mutation(({ ctx, input }) => resetUserPassword(ctx, requireActor(ctx), input, accountAuth(ctx.auth)));
