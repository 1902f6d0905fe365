import type { ServerEnv } from "@lifeboat/config";
import { type Db, getDb } from "@lifeboat/db";
import { recordAudit } from "@lifeboat/domain";
import { hash as argon2Hash, verify as argon2Verify } from "@node-rs/argon2";
import { type BetterAuthPlugin, betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { APIError, createAuthMiddleware, getSessionFromCtx } from "better-auth/api";
import { verifyPassword as verifyScrypt } from "better-auth/crypto";
import { admin, genericOAuth, organization } from "better-auth/plugins";
import { CLIENT_IP_HEADER, clientIp } from "./client-ip";
import { publicUrl, trustedOrigins } from "./origins";
import { passwordWeakness, weakPassword } from "./password-strength";
import { teamAccessControl, teamRoles } from "./roles";
import { clearAttempts, type ThrottleKey, takeAttempt } from "./throttle";

/** The provider id of the optional OIDC sign-in; its callback is `<BETTER_AUTH_URL>/api/auth/callback/oidc`. */
export const OIDC_PROVIDER_ID = "oidc";

export interface OidcOptions {
  /** Shown on the sign-in button ("Keycloak", "Company SSO"). */
  name: string;
  clientId: string;
  clientSecret?: string;
  authorizationUrl: string;
  tokenUrl: string;
  userInfoUrl: string;
  scopes: string[];
  /** Create an account on first sign-in; otherwise only accounts an administrator created may sign in. */
  autoCreate: boolean;
}

export interface AuthOptions {
  db: Db;
  secret: string;
  /** The URL users open (cookies are Secure when it is https). */
  baseURL: string;
  trustedOrigins?: string[];
  rateLimit?: boolean;
  oidc?: OidcOptions;
  /** Called after each sign-in attempt (the audit row is already written). */
  onSignIn?: (event: { email: string; ok: boolean; userId?: string; headers?: Headers }) => Promise<void>;
}

const BASE_PATH = "/api/auth";

const MIN_PASSWORD_LENGTH = 10;
const MAX_PASSWORD_LENGTH = 128;

/**
 * The endpoints that set a password someone chose, and the body field that holds it: each is checked against
 * the strength estimator before the endpoint runs (the sign-up and e-mail reset endpoints are off; listed all
 * the same, should they be turned on).
 */
const CHOSEN_PASSWORD_FIELD: Record<string, string> = {
  "/change-password": "newPassword",
  "/set-password": "newPassword",
  "/reset-password": "newPassword",
  "/admin/create-user": "password",
  "/admin/set-user-password": "newPassword",
  "/sign-up/email": "password",
};

/** The account's own e-mail and name: a password made of them is weak, however long. */
async function accountWords(
  db: Db,
  body: Record<string, unknown> | undefined,
  user: { email: string; name: string } | undefined,
): Promise<string[]> {
  const target =
    typeof body?.userId === "string"
      ? await db.user.findUnique({ where: { id: body.userId }, select: { email: true, name: true } })
      : null;
  return [body?.email, body?.name, user?.email, user?.name, target?.email, target?.name].filter(
    (w): w is string => typeof w === "string" && w.length > 0,
  );
}

/** What a wrong password answers; a disabled account's right password answers the same. */
const invalidCredentials = () =>
  new APIError("UNAUTHORIZED", { message: "Invalid email or password", code: "INVALID_EMAIL_OR_PASSWORD" });

/** A disabled (banned) account whose ban has not run out. */
function isDisabled(user: object | null | undefined): boolean {
  const u = user as { banned?: unknown; banExpires?: unknown } | null | undefined;
  return Boolean(u?.banned && !(u.banExpires instanceof Date && u.banExpires.getTime() <= Date.now()));
}

function tooManyAttempts(waitSeconds: number): APIError {
  return new APIError(
    "TOO_MANY_REQUESTS",
    { code: "TOO_MANY_ATTEMPTS", message: `Too many attempts. Try again in ${waitSeconds} seconds.` },
    { "retry-after": String(waitSeconds) },
  );
}

/**
 * better-auth endpoints reachable over HTTP. Everything else (the admin and organization plugins' user, team and
 * member management, self-service profile changes) answers 404 to browsers: those changes go through the
 * audited tRPC procedures, and server code still calls them through `auth.api`.
 */
const HTTP_ALLOWED = [
  /^\/sign-in\/(email|social)$/,
  /^\/callback\/[\w-]+$/,
  /^\/sign-out$/,
  /^\/get-session$/,
  /^\/change-password$/,
  /^\/list-sessions$/,
  /^\/revoke-(session|sessions|other-sessions)$/,
  /^\/(ok|error)$/,
];

const httpGate: BetterAuthPlugin = {
  id: "lifeboat-http-gate",
  async onRequest(request) {
    const path = new URL(request.url).pathname.replace(/\/+$/, "");
    const rel = path.startsWith(BASE_PATH) ? path.slice(BASE_PATH.length) : path;
    if (HTTP_ALLOWED.some((re) => re.test(rel))) return;
    return {
      response: new Response(JSON.stringify({ message: "Not found" }), {
        status: 404,
        headers: { "content-type": "application/json" },
      }),
    };
  },
};

/**
 * Sign-in, sessions and password hashing are better-auth's (Prisma adapter, sessions in the database,
 * httpOnly SameSite=Lax cookies, Secure and `__Secure-` prefixed when the base URL is https). Passwords are
 * hashed with argon2id (memory-hard). Sign-ins (email and OIDC, success and failure) and password changes are
 * written to the audit log here; a successful password change clears `mustChangePassword`.
 */
export function createAuth(opts: AuthOptions) {
  const db = opts.db;
  // Ahead of the admin plugin's own check (plugins' hooks run in order), which answers 403 "banned": a disabled
  // account's right password must not tell anyone that the password was right.
  const disabledAccounts: BetterAuthPlugin = {
    id: "lifeboat-disabled-accounts",
    init: () => ({
      options: {
        databaseHooks: {
          session: {
            create: {
              async before(session) {
                const user = await db.user.findUnique({ where: { id: session.userId } });
                if (isDisabled(user)) throw invalidCredentials();
              },
            },
          },
        },
      },
    }),
  };
  const plugins = [
    disabledAccounts,
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
    httpGate,
  ];
  const oidc = opts.oidc;
  return betterAuth({
    appName: "Lifeboat",
    baseURL: opts.baseURL,
    basePath: BASE_PATH,
    secret: opts.secret,
    trustedOrigins: opts.trustedOrigins,
    telemetry: { enabled: false },
    database: prismaAdapter(db, { provider: "postgresql" }),
    rateLimit: { enabled: opts.rateLimit ?? true, storage: "database", modelName: "rateLimit" },
    session: { expiresIn: 60 * 60 * 12, updateAge: 60 * 60 },
    advanced: {
      // The address the web server's edge computed from the TCP peer and the trusted proxies, never a header
      // the caller wrote: rate limits and session records key on it.
      ipAddress: { ipAddressHeaders: [CLIENT_IP_HEADER] },
      useSecureCookies: opts.baseURL.startsWith("https://"),
      defaultCookieAttributes: { httpOnly: true, sameSite: "lax" },
    },
    emailAndPassword: {
      enabled: true,
      // Accounts are created by administrators; nobody signs themselves up.
      disableSignUp: true,
      minPasswordLength: MIN_PASSWORD_LENGTH,
      maxPasswordLength: MAX_PASSWORD_LENGTH,
      password: {
        hash: (password) => argon2Hash(password),
        verify: ({ hash, password }) =>
          hash.startsWith("$argon2") ? argon2Verify(hash, password) : verifyScrypt({ hash, password }),
      },
    },
    account: oidc
      ? // The operator configured this provider: link its sign-ins to the account with the same e-mail.
        {
          accountLinking: {
            enabled: true,
            trustedProviders: [OIDC_PROVIDER_ID],
            requireLocalEmailVerified: false,
          },
        }
      : undefined,
    user: {
      additionalFields: {
        mustChangePassword: { type: "boolean", defaultValue: false, input: false },
      },
    },
    plugins: oidc
      ? [
          ...plugins,
          genericOAuth({
            config: [
              {
                providerId: OIDC_PROVIDER_ID,
                name: oidc.name,
                clientId: oidc.clientId,
                clientSecret: oidc.clientSecret,
                authorizationUrl: oidc.authorizationUrl,
                tokenUrl: oidc.tokenUrl,
                userInfoUrl: oidc.userInfoUrl,
                scopes: oidc.scopes,
                pkce: true,
                // Without discovery the profile's `sub` is the stable subject (better-auth would read `id`).
                accountSubject: ({ profile }) => String(profile.sub ?? profile.id ?? ""),
                disableSignUp: !oidc.autoCreate,
              },
            ],
          }),
        ]
      : plugins,
    hooks: {
      before: createAuthMiddleware(async (ctx) => {
        const body = ctx.body as Record<string, unknown> | undefined;
        // Per-account throttling, whatever address the attempts come from (the IP limit is better-auth's).
        let key: ThrottleKey | undefined;
        if (ctx.path === "/sign-in/email") {
          const email = body?.email;
          if (typeof email === "string" && email) key = `sign-in:${email.trim().toLowerCase().slice(0, 320)}`;
        }
        let user: { id: string; name: string; email: string } | undefined;
        if (ctx.path === "/change-password") {
          if (body?.newPassword && body.newPassword === body.currentPassword)
            throw new APIError("BAD_REQUEST", {
              message: "Choose a new password that differs from the current one.",
            });
          user = (await getSessionFromCtx(ctx).catch(() => null))?.user;
          if (user) key = `change-password:${user.id}`;
        }
        const headers = ctx.headers ?? ctx.request?.headers;
        // A refusal here skips the after hook: sign-ins are audited by `handleAuthRequest`, password changes here.
        const auditRefusedChange = (outcome: "denied" | "failure", details: Record<string, string>) =>
          user
            ? recordAudit(db, {
                action: "account.change-password",
                outcome,
                actorId: user.id,
                actorName: user.name,
                actorEmail: user.email,
                targetType: "user",
                targetId: user.id,
                ip: headers ? clientIp(headers) : null,
                userAgent: headers?.get("user-agent") ?? null,
                details,
              })
            : undefined;
        if (key) {
          const wait = await takeAttempt(db, key);
          if (wait !== null) {
            await auditRefusedChange("denied", { reason: "rate limited" });
            throw tooManyAttempts(wait);
          }
        }
        // Signed out: the endpoint's own 401, not a verdict on a password nobody may set.
        if (ctx.path === "/change-password" && !user) return;
        const field = CHOSEN_PASSWORD_FIELD[ctx.path];
        const chosen = field ? body?.[field] : undefined;
        // Out of bounds: better-auth's own refusal (PASSWORD_TOO_SHORT / _LONG) says so more plainly.
        if (
          typeof chosen === "string" &&
          chosen.length >= MIN_PASSWORD_LENGTH &&
          chosen.length <= MAX_PASSWORD_LENGTH
        ) {
          const weakness = await passwordWeakness(chosen, await accountWords(db, body, user));
          if (weakness) {
            await auditRefusedChange("failure", { reason: "weak password", error: weakness });
            throw weakPassword(weakness);
          }
        }
      }),
      after: createAuthMiddleware(async (ctx) => {
        const headers = ctx.headers ?? ctx.request?.headers;
        const ip = headers ? clientIp(headers) : null;
        const userAgent = headers?.get("user-agent") ?? null;
        const returned = ctx.context.returned;
        const failed = returned instanceof APIError || returned instanceof Error;
        if (ctx.path === "/sign-in/email" || ctx.path.startsWith("/callback/")) {
          const session = ctx.context.newSession;
          const typed = String((ctx.body as { email?: unknown } | undefined)?.email ?? "").slice(0, 200);
          const email = session?.user.email ?? typed;
          const known =
            session?.user ??
            (typed
              ? await db.user.findUnique({ where: { email: typed.toLowerCase() } }).catch(() => null)
              : null);
          const method = ctx.path === "/sign-in/email" ? "password" : `oidc:${ctx.params?.id ?? "?"}`;
          await recordAudit(db, {
            action: "auth.sign-in",
            outcome: session ? "success" : "failure",
            actorId: known?.id ?? null,
            actorName: known?.name ?? null,
            actorEmail: email || null,
            ip,
            userAgent,
            details: !session && isDisabled(known) ? { method, reason: "account disabled" } : { method },
          });
          if (session && ctx.path === "/sign-in/email")
            await clearAttempts(db, `sign-in:${email.toLowerCase()}`);
          await opts.onSignIn?.({ email, ok: Boolean(session), userId: session?.user.id, headers });
          return;
        }
        if (ctx.path === "/change-password") {
          const user = ctx.context.session?.user;
          if (!user) return;
          if (!failed) {
            await db.user.update({ where: { id: user.id }, data: { mustChangePassword: false } });
            await clearAttempts(db, `change-password:${user.id}`);
          }
          await recordAudit(db, {
            action: "account.change-password",
            outcome: failed ? "failure" : "success",
            actorId: user.id,
            actorName: user.name,
            actorEmail: user.email,
            targetType: "user",
            targetId: user.id,
            ip,
            userAgent,
            details: failed ? { error: (ctx.context.returned as Error).message } : {},
          });
        }
      }),
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;

/** The OIDC settings of the environment, or undefined when OIDC sign-in is not configured. */
export function oidcFromEnv(env: ServerEnv): OidcOptions | undefined {
  const { LIFEBOAT_OIDC_CLIENT_ID, LIFEBOAT_OIDC_AUTHORIZATION_URL, LIFEBOAT_OIDC_TOKEN_URL } = env;
  const { LIFEBOAT_OIDC_USERINFO_URL } = env;
  if (!LIFEBOAT_OIDC_CLIENT_ID || !LIFEBOAT_OIDC_AUTHORIZATION_URL || !LIFEBOAT_OIDC_TOKEN_URL)
    return undefined;
  if (!LIFEBOAT_OIDC_USERINFO_URL) return undefined;
  return {
    name: env.LIFEBOAT_OIDC_NAME,
    clientId: LIFEBOAT_OIDC_CLIENT_ID,
    clientSecret: env.LIFEBOAT_OIDC_CLIENT_SECRET,
    authorizationUrl: LIFEBOAT_OIDC_AUTHORIZATION_URL,
    tokenUrl: LIFEBOAT_OIDC_TOKEN_URL,
    userInfoUrl: LIFEBOAT_OIDC_USERINFO_URL,
    scopes: env.LIFEBOAT_OIDC_SCOPES.split(/[\s,]+/).filter(Boolean),
    autoCreate: env.LIFEBOAT_OIDC_AUTO_CREATE,
  };
}

let appAuth: Auth | undefined;

/** The process-wide auth instance, configured from the process's environment (parsed at its edge). */
export function getAuth(env: ServerEnv, onSignIn?: AuthOptions["onSignIn"]): Auth {
  if (appAuth) return appAuth;
  if (!env.BETTER_AUTH_SECRET)
    throw new Error("BETTER_AUTH_SECRET is not set: start Lifeboat with `pnpm start`, or set it (32+ chars)");
  appAuth = createAuth({
    db: getDb(env.DATABASE_URL),
    secret: env.BETTER_AUTH_SECRET,
    baseURL: publicUrl(env),
    trustedOrigins: trustedOrigins(env),
    rateLimit: env.LIFEBOAT_AUTH_RATE_LIMIT,
    oidc: oidcFromEnv(env),
    onSignIn,
  });
  return appAuth;
}
