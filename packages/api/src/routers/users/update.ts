import { AppError, requireActor, toUserView, userInclude, userView } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const usersUpdateInput = z.object({
  userId: z.string().min(1),
  name: z.string().trim().min(1).max(200).optional(),
  siteAdmin: z.boolean().optional(),
  /** A disabled account cannot sign in; its sessions end now. */
  disabled: z.boolean().optional(),
});

/** Renames an account, grants or takes back site administration, disables or enables it. */
export const update = procedure
  .meta({ permission: "site:users" })
  .input(usersUpdateInput)
  .output(userView)
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    ctx.audit.targetType = "user";
    ctx.audit.targetId = input.userId;
    const user = await ctx.db.user.findUnique({ where: { id: input.userId } });
    if (!user) throw new AppError("NOT_FOUND", "No such account.");
    if (input.userId === actor.userId && (input.siteAdmin === false || input.disabled === true))
      throw new AppError("BAD_REQUEST", "You cannot take away your own administration or disable yourself.");
    const changes: Record<string, unknown> = {};
    if (input.name !== undefined && input.name !== user.name)
      changes.name = { from: user.name, to: input.name };
    if (input.siteAdmin !== undefined && input.siteAdmin !== (user.role === "admin"))
      changes.siteAdmin = input.siteAdmin;
    if (input.disabled !== undefined && input.disabled !== (user.banned === true))
      changes.disabled = input.disabled;
    ctx.audit.details = { email: user.email, changes };
    await ctx.db.$transaction(async (tx) => {
      await tx.user.update({
        where: { id: user.id },
        data: {
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.siteAdmin !== undefined ? { role: input.siteAdmin ? "admin" : "user" } : {}),
          ...(input.disabled !== undefined
            ? { banned: input.disabled, banReason: input.disabled ? `disabled by ${actor.email}` : null }
            : {}),
        },
      });
      if (input.disabled === true) await tx.session.deleteMany({ where: { userId: user.id } });
    });
    return toUserView(await ctx.db.user.findUniqueOrThrow({ where: { id: user.id }, include: userInclude }));
  });
