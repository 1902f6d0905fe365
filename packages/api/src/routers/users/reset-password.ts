import { setCredentialPassword, temporaryPassword } from "@lifeboat/auth";
import { AppError, requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const usersResetPasswordInput = z.object({ userId: z.string().min(1) });
export const usersResetPasswordOutput = z.object({ temporaryPassword: z.string() });

/**
 * Gives an account a new temporary password (shown once): its sessions end and the next sign-in must choose a
 * new password.
 */
export const resetPassword = procedure
  .meta({ permission: "site:users" })
  .input(usersResetPasswordInput)
  .output(usersResetPasswordOutput)
  .mutation(async ({ ctx, input }) => {
    requireActor(ctx);
    ctx.audit.targetType = "user";
    ctx.audit.targetId = input.userId;
    const user = await ctx.db.user.findUnique({ where: { id: input.userId } });
    if (!user) throw new AppError("NOT_FOUND", "No such account.");
    ctx.audit.details = { email: user.email };
    const password = temporaryPassword();
    await setCredentialPassword(ctx.auth, user.id, password);
    await ctx.db.$transaction([
      ctx.db.user.update({ where: { id: user.id }, data: { mustChangePassword: true } }),
      ctx.db.session.deleteMany({ where: { userId: user.id } }),
    ]);
    return { temporaryPassword: password };
  });
