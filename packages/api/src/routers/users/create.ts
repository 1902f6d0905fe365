import { setCredentialPassword, temporaryPassword } from "@lifeboat/auth";
import { AppError, requireActor, toUserView, userInclude, userView } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const usersCreateInput = z.object({
  email: z.string().trim().toLowerCase().pipe(z.email()),
  name: z.string().trim().min(1).max(200),
  siteAdmin: z.boolean().default(false),
  /** "temporary": a generated password to hand over, changed at first sign-in; "none": OIDC sign-in only. */
  password: z.enum(["temporary", "none"]).default("temporary"),
});
export const usersCreateOutput = z.object({
  user: userView,
  /** Shown once; Lifeboat keeps only its hash. */
  temporaryPassword: z.string().nullable(),
});

/** Creates an account. With a temporary password, the first sign-in must choose a new one. */
export const create = procedure
  .meta({ permission: "site:users" })
  .input(usersCreateInput)
  .output(usersCreateOutput)
  .mutation(async ({ ctx, input }) => {
    requireActor(ctx);
    if (await ctx.db.user.findUnique({ where: { email: input.email } }))
      throw new AppError("CONFLICT", `An account with the e-mail ${input.email} already exists.`);
    const created = await ctx.auth.api.createUser({
      body: {
        email: input.email,
        name: input.name,
        role: input.siteAdmin ? "admin" : "user",
        // The administrator vouches for the address (OIDC sign-ins link to it by e-mail).
        data: { emailVerified: true },
      },
    });
    const id = created.user.id;
    let password: string | null = null;
    if (input.password === "temporary") {
      password = temporaryPassword();
      await setCredentialPassword(ctx.auth, id, password);
      await ctx.db.user.update({ where: { id }, data: { mustChangePassword: true } });
    }
    ctx.audit.targetType = "user";
    ctx.audit.targetId = id;
    ctx.audit.details = {
      email: input.email,
      name: input.name,
      siteAdmin: input.siteAdmin,
      password: input.password,
    };
    const user = await ctx.db.user.findUniqueOrThrow({ where: { id }, include: userInclude });
    return { user: toUserView(user), temporaryPassword: password };
  });
