import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import { type CliKit, UsageError } from "../cli-kit";

/** Loaded on use, so that other commands start without the database stack. */
async function loadCatalogTools() {
  const [auth, { ensureFirstAdmin }, { withCatalog }] = await Promise.all([
    import("@lifeboat/auth"),
    import("@lifeboat/domain"),
    import("../launcher/catalog"),
  ]);
  const { createAuth, firstAdminAccount, passwordWeakness } = auth;
  return { createAuth, firstAdminAccount, passwordWeakness, ensureFirstAdmin, withCatalog };
}

export function register(program: Command, kit: CliKit) {
  const admin = program.command("admin").description("account administration from the server's shell");
  admin
    .command("bootstrap")
    .description(
      "apply migrations and create the first site admin if there is none (for container deployments)",
    )
    .action(
      kit.action(async () => {
        const { serverEnv } = await import("@lifeboat/config");
        const env = serverEnv(kit.env.vars);
        if (!env.BETTER_AUTH_SECRET) throw new Error("BETTER_AUTH_SECRET is not set");
        const { createAuth, ensureFirstAdmin, firstAdminAccount, withCatalog } = await loadCatalogTools();
        const secret = env.BETTER_AUTH_SECRET;
        const first = await withCatalog(env, async (db) => {
          const auth = createAuth({ db, secret, baseURL: env.BETTER_AUTH_URL ?? "http://localhost" });
          return ensureFirstAdmin(db, firstAdminAccount(auth), {
            email: env.LIFEBOAT_ADMIN_EMAIL,
            password: env.LIFEBOAT_ADMIN_PASSWORD,
          });
        });
        if (first.created)
          process.stdout.write(
            `Created the first admin ${first.email}${first.generatedPassword ? ` with password ${first.generatedPassword} (temporary: the first sign-in chooses a new one)` : ""}\n`,
          );
        else process.stdout.write(`Admin account present (${first.email}); migrations applied\n`);
      }),
    );
  admin
    .command("reset-password")
    .description(
      "set a new password for an account (printed once; a generated one must be changed at the next sign-in) and end its sessions",
    )
    .requiredOption("--email <email>", "the account's email")
    .option("--password <password>", "the new password (default: generated)")
    .action(
      kit.action(async (opts: { email: string; password?: string }) => {
        const generated = opts.password === undefined;
        const password = opts.password ?? randomBytes(12).toString("base64url");
        if (password.length < 10) throw new UsageError("--password must be at least 10 characters");
        const { createAuth, passwordWeakness, withCatalog } = await loadCatalogTools();
        const weakness = generated ? null : await passwordWeakness(password, [opts.email]);
        if (weakness) throw new UsageError(`--password is too weak: ${weakness}`);
        const { serverEnv } = await import("@lifeboat/config");
        await withCatalog(serverEnv(kit.env.vars), async (db) => {
          const user = await db.user.findUnique({ where: { email: opts.email.toLowerCase() } });
          if (!user) throw new Error(`no account with email ${opts.email}`);
          // Hash with the auth library's own configured hasher (argon2id), never by hand.
          const auth = createAuth({
            db,
            secret: "unused-for-hashing-only-0123456789",
            baseURL: "http://localhost",
          });
          const hash = await (await auth.$context).password.hash(password);
          await db.$transaction([
            db.account.updateMany({
              where: { userId: user.id, providerId: "credential" },
              data: { password: hash },
            }),
            db.session.deleteMany({ where: { userId: user.id } }),
            // A generated password was printed here: the next sign-in must choose one of its own.
            ...(generated
              ? [db.user.update({ where: { id: user.id }, data: { mustChangePassword: true } })]
              : []),
          ]);
        });
        process.stdout.write(`New password for ${opts.email}: ${password}\n`);
      }),
    );
}
