import { serverEnv } from "@lifeboat/config";
import { type Db, getDb } from "@lifeboat/db";
import { hash as argon2Hash, verify as argon2Verify } from "@node-rs/argon2";
import { betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { createAuthMiddleware } from "better-auth/api";
import { verifyPassword as verifyScrypt } from "better-auth/crypto";
import { admin, organization } from "better-auth/plugins";
import { teamAccessControl, teamRoles } from "./roles";

export interface AuthOptions {
  db: Db;
  secret: string;
  /** The URL users open (cookies are Secure when it is https). */
  baseURL: string;
  trustedOrigins?: string[];
  rateLimit?: boolean;
  /** Called after each email sign-in attempt, to write the audit log. */
  onSignIn?: (event: { email: string; ok: boolean; userId?: string; headers?: Headers }) => Promise<void>;
}

/**
 * Sign-in, sessions and password hashing are better-auth's (Prisma adapter, sessions in the database,
 * httpOnly SameSite=Lax cookies). Passwords are hashed with argon2id (memory-hard).
 */
export function createAuth(opts: AuthOptions) {
  return betterAuth({
    appName: "Lifeboat",
    baseURL: opts.baseURL,
    secret: opts.secret,
    trustedOrigins: opts.trustedOrigins,
    telemetry: { enabled: false },
    database: prismaAdapter(opts.db, { provider: "postgresql" }),
    rateLimit: { enabled: opts.rateLimit ?? true, storage: "database", modelName: "rateLimit" },
    session: { expiresIn: 60 * 60 * 12, updateAge: 60 * 60 },
    emailAndPassword: {
      enabled: true,
      // Accounts are created by administrators; nobody signs themselves up.
      disableSignUp: true,
      minPasswordLength: 10,
      password: {
        hash: (password) => argon2Hash(password),
        verify: ({ hash, password }) =>
          hash.startsWith("$argon2") ? argon2Verify(hash, password) : verifyScrypt({ hash, password }),
      },
    },
    user: {
      additionalFields: {
        mustChangePassword: { type: "boolean", defaultValue: false, input: false },
      },
    },
    plugins: [
      admin({ defaultRole: "user", adminRoles: ["admin"] }),
      organization({
        ac: teamAccessControl,
        roles: teamRoles,
        creatorRole: "admin",
        allowUserToCreateOrganization: false,
        schema: {
          organization: { modelName: "team" },
          member: { modelName: "membership", fields: { organizationId: "teamId" } },
          invitation: { modelName: "invitation", fields: { organizationId: "teamId" } },
        },
      }),
    ],
    hooks: {
      after: createAuthMiddleware(async (ctx) => {
        if (ctx.path !== "/sign-in/email" || !opts.onSignIn) return;
        const email = String((ctx.body as { email?: unknown } | undefined)?.email ?? "");
        const session = ctx.context.newSession;
        await opts.onSignIn({ email, ok: Boolean(session), userId: session?.user.id, headers: ctx.headers });
      }),
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;

let appAuth: Auth | undefined;

/** The process-wide auth instance, configured from the environment. */
export function getAuth(onSignIn?: AuthOptions["onSignIn"]): Auth {
  if (appAuth) return appAuth;
  const env = serverEnv();
  if (!env.BETTER_AUTH_SECRET)
    throw new Error("BETTER_AUTH_SECRET is not set: start Lifeboat with `pnpm start`, or set it (32+ chars)");
  const baseURL = env.BETTER_AUTH_URL ?? `http://localhost:${env.PORT}`;
  const origins = new Set([
    baseURL,
    `http://localhost:${env.PORT}`,
    `http://127.0.0.1:${env.PORT}`,
    ...env.LIFEBOAT_TRUSTED_ORIGINS.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  ]);
  appAuth = createAuth({
    db: getDb(),
    secret: env.BETTER_AUTH_SECRET,
    baseURL,
    trustedOrigins: [...origins],
    rateLimit: env.LIFEBOAT_AUTH_RATE_LIMIT,
    onSignIn,
  });
  return appAuth;
}
