import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { z } from "zod";

/** Walks up from `start` to the folder holding pnpm-workspace.yaml (the Lifeboat checkout). */
export function findWorkspaceRoot(start = process.cwd()): string {
  // The folder is only known at run time: keep Next's build from tracing the whole project.
  let dir = path.resolve(/*turbopackIgnore: true*/ start);
  for (;;) {
    if (fs.existsSync(path.join(dir, "pnpm-workspace.yaml"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(/*turbopackIgnore: true*/ start);
    dir = parent;
  }
}

/** An empty variable counts as unset (e.g. `DATABASE_URL= pnpm start`). */
const unsetIfEmpty = (v: unknown) => (v === "" ? undefined : v);

const bool = (fallback: boolean) =>
  z
    .enum(["1", "0", "true", "false", "on", "off", "yes", "no"])
    .optional()
    .transform((v) => (v === undefined ? fallback : ["1", "true", "on", "yes"].includes(v)));

/** An IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
function isIpOrCidr(entry: string): boolean {
  const [ip = "", bits, ...rest] = entry.split("/");
  const family = net.isIP(ip);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

const ipList = z
  .string()
  .default("")
  .transform((v) =>
    v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .refine((list) => list.every(isIpOrCidr), {
    message: "must be IP addresses or CIDR blocks (10.0.0.0/8), comma separated",
  });

/**
 * Every variable Lifeboat reads, with its default. README.md lists the same table; keep them in step.
 * Parsed once per process (see `serverEnv`).
 */
const serverEnvShape = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  /** External PostgreSQL. Unset: `lifeboat start` runs an embedded PostgreSQL under the data dir. */
  DATABASE_URL: z.string().url().optional(),
  /**
   * External PostgreSQL: the role that owns the tables, for migrations only (`lifeboat start`, `lifeboat admin
   * bootstrap`). DATABASE_URL's role then gets only the DML the app needs. Unset: migrations run as
   * DATABASE_URL's role, and processes warn at start if it is a superuser or owns the tables.
   */
  LIFEBOAT_MIGRATION_DATABASE_URL: z.string().url().optional(),
  /** Where Lifeboat keeps its local state (embedded PostgreSQL, sim, repository, generated secrets). */
  LIFEBOAT_DATA_DIR: z.string().optional(),
  LIFEBOAT_EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54330),
  /** Web server. */
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  HOST: z.string().default("0.0.0.0"),
  /** The URL users open; sign-in checks request origins against it. */
  BETTER_AUTH_URL: z.string().url().optional(),
  /** Extra origins allowed to sign in and to call mutations, comma separated. */
  LIFEBOAT_TRUSTED_ORIGINS: z
    .string()
    .default("")
    .refine((v) => v.split(",").every((o) => !o.trim() || /^https?:\/\/[^/]+\/?$/.test(o.trim())), {
      message: "must be origins (https://host[:port]), comma separated",
    }),
  /**
   * Reverse proxies whose X-Forwarded-For is believed (IPs and CIDRs, comma separated). Empty: the client is
   * the TCP peer, whatever the headers say.
   */
  LIFEBOAT_TRUSTED_PROXIES: ipList,
  /** Largest request body the web server reads; larger ones get 413 before a byte is read. */
  LIFEBOAT_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 ** 3)
    .default(1024 * 1024),
  /** Signs sessions. Generated into the data dir on first start when unset. */
  BETTER_AUTH_SECRET: z.string().min(32).optional(),
  /** 32-byte key (base64 or hex) that encrypts engine passwords at rest. Generated like the secret. */
  LIFEBOAT_ENCRYPTION_KEY: z.string().optional(),
  /** First admin account, created on first start. The password is generated and printed once when unset. */
  LIFEBOAT_ADMIN_EMAIL: z.string().email().default("admin@lifeboat.local"),
  LIFEBOAT_ADMIN_PASSWORD: z.string().min(8).optional(),
  /** Sign-in rate limiting (better-auth). Turn off only for automated tests. */
  LIFEBOAT_AUTH_RATE_LIMIT: bool(true),
  /** Start the simulated oVirt engine when no engine is configured. */
  LIFEBOAT_SIM: z.enum(["auto", "off"]).default("auto"),
  LIFEBOAT_SIM_PORT: z.coerce.number().int().min(0).max(65535).default(8443),
  LIFEBOAT_SIM_IMAGEIO_PORT: z.coerce.number().int().min(0).max(65535).default(54322),
  /** Size of the demo VMs the simulated engine creates on first start ("small" for quick tries and tests). */
  LIFEBOAT_SIM_SEED_SCALE: z.enum(["demo", "small"]).default("demo"),
  /** Run a worker inside `lifeboat start` (one-machine mode). */
  LIFEBOAT_EMBEDDED_WORKER: bool(true),
  /** Backup repository folder and its optional encryption key (32 bytes, base64 or hex). */
  LIFEBOAT_REPOSITORY_DIR: z.string().optional(),
  LIFEBOAT_REPOSITORY_KEY: z.string().optional(),
  /**
   * Job lease: a running job whose heartbeat is older than this belongs to a dead worker and another worker
   * takes it over (cleans the engine up, then resumes or fails it).
   */
  LIFEBOAT_JOB_LEASE_SECONDS: z.coerce.number().positive().max(86_400).default(60),
  /** Concurrent jobs per engine (backups and restores). */
  LIFEBOAT_ENGINE_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /**
   * Checkpoints of a VM kept on the engine after a backup through the backup API (the newest, which the next
   * incremental starts from, among them); older ones and invalid ones are removed.
   */
  LIFEBOAT_CHECKPOINT_CHAIN: z.coerce.number().int().min(1).max(1000).default(7),
  LIFEBOAT_LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "silent"]).default("info"),
  /**
   * Optional OpenID Connect sign-in (e.g. Keycloak), on when the client id and the three endpoint URLs are set.
   * The endpoints are given explicitly so that nothing is fetched from the provider at startup.
   */
  LIFEBOAT_OIDC_NAME: z.string().default("Single sign-on"),
  LIFEBOAT_OIDC_CLIENT_ID: z.string().optional(),
  LIFEBOAT_OIDC_CLIENT_SECRET: z.string().optional(),
  LIFEBOAT_OIDC_AUTHORIZATION_URL: z.string().url().optional(),
  LIFEBOAT_OIDC_TOKEN_URL: z.string().url().optional(),
  LIFEBOAT_OIDC_USERINFO_URL: z.string().url().optional(),
  LIFEBOAT_OIDC_SCOPES: z.string().default("openid email profile"),
  /** Create an account on first OIDC sign-in (it belongs to no team until an admin adds it). */
  LIFEBOAT_OIDC_AUTO_CREATE: bool(false),
  /** Approval notifications by webhook: a JSON POST signed with HMAC-SHA256 of the secret. */
  LIFEBOAT_WEBHOOK_URL: z.string().url().optional(),
  LIFEBOAT_WEBHOOK_SECRET: z.string().min(16).optional(),
  /** Approval notifications by e-mail: smtp://user:password@host:587 (STARTTLS) or smtps://… (TLS). */
  LIFEBOAT_SMTP_URL: z.string().url().optional(),
  LIFEBOAT_SMTP_FROM: z.string().default("Lifeboat <lifeboat@localhost>"),
});

const OIDC_ENDPOINTS = [
  "LIFEBOAT_OIDC_CLIENT_ID",
  "LIFEBOAT_OIDC_AUTHORIZATION_URL",
  "LIFEBOAT_OIDC_TOKEN_URL",
  "LIFEBOAT_OIDC_USERINFO_URL",
] as const;

/** Settings that only make sense together. */
const serverEnvChecked = serverEnvShape.superRefine((env, ctx) => {
  const oidcSet = OIDC_ENDPOINTS.filter((k) => env[k]);
  if (oidcSet.length > 0 && oidcSet.length < OIDC_ENDPOINTS.length)
    for (const k of OIDC_ENDPOINTS.filter((k) => !env[k]))
      ctx.addIssue({ code: "custom", path: [k], message: `OIDC sign-in needs ${OIDC_ENDPOINTS.join(", ")}` });
  if (env.LIFEBOAT_WEBHOOK_URL && !env.LIFEBOAT_WEBHOOK_SECRET)
    ctx.addIssue({
      code: "custom",
      path: ["LIFEBOAT_WEBHOOK_SECRET"],
      message: "a webhook needs a secret (16+ characters) to sign its requests",
    });
  for (const k of ["LIFEBOAT_WEBHOOK_URL", "LIFEBOAT_SMTP_URL"] as const) {
    const v = env[k];
    const allowed = k === "LIFEBOAT_SMTP_URL" ? ["smtp:", "smtps:"] : ["http:", "https:"];
    if (v && !allowed.includes(new URL(v).protocol))
      ctx.addIssue({ code: "custom", path: [k], message: `must start with ${allowed.join(" or ")}//` });
  }
});

export const serverEnvSchema = z.preprocess(
  (raw) =>
    Object.fromEntries(Object.entries(raw as Record<string, unknown>).map(([k, v]) => [k, unsetIfEmpty(v)])),
  serverEnvChecked,
);

export type ServerEnv = z.infer<typeof serverEnvSchema> & { dataDir: string; repositoryDir: string };

let cached: ServerEnv | undefined;

/** The validated environment of this process; throws one readable error listing every bad variable. */
export function serverEnv(source: NodeJS.ProcessEnv = process.env): ServerEnv {
  if (cached && source === process.env) return cached;
  const parsed = serverEnvSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid Lifeboat configuration:\n${lines.join("\n")}`);
  }
  const dataDir = path.resolve(
    /*turbopackIgnore: true*/ parsed.data.LIFEBOAT_DATA_DIR ?? path.join(findWorkspaceRoot(), ".lifeboat"),
  );
  const env: ServerEnv = {
    ...parsed.data,
    dataDir,
    repositoryDir: path.resolve(
      /*turbopackIgnore: true*/ parsed.data.LIFEBOAT_REPOSITORY_DIR ?? path.join(dataDir, "repository"),
    ),
  };
  if (source === process.env) cached = env;
  return env;
}

/** For tests that change process.env between cases. */
export function resetServerEnvCache(): void {
  cached = undefined;
}
