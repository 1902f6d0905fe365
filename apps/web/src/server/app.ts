import { type Auth, createContext, getAuth, oidcFromEnv } from "@lifeboat/api";
import { handleAuthRequest, handleTrpcRequest, trustedOrigins } from "@lifeboat/api/http";
import { serverEnv } from "@lifeboat/config";
import { type Db, getDb } from "@lifeboat/db";
import { type DomainConfig, domainConfig, registerEventSource } from "@lifeboat/domain";
import { createJobQueue } from "@lifeboat/jobs";

// The web process's edge: the environment is read here once, and handed down to the API and the domain.
let config: DomainConfig | undefined;

/** What the domain takes from this process's environment (sealing key, repository, notifications). */
export function webConfig(): DomainConfig {
  config ??= domainConfig(serverEnv());
  return config;
}

/** The web process's auth instance (it writes sign-ins, successful or not, to the audit log itself). */
export function serverAuth(): Auth {
  return getAuth(serverEnv());
}

export function databaseUrl(): string {
  const url = serverEnv().DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set: start Lifeboat with `pnpm start`");
  return url;
}

/** The process's catalog client, known to the live-event bus. */
function webDb(): Db {
  const url = databaseUrl();
  const db = getDb(url);
  registerEventSource(db, url);
  return db;
}

/** /api/trpc: origin check, no body read without a session, batch cap, health status (see handleTrpcRequest). */
export function trpcResponse(req: Request): Promise<Response> {
  const db = webDb();
  const queue = createJobQueue(db, databaseUrl());
  return handleTrpcRequest(req, {
    db,
    auth: serverAuth(),
    queue,
    config: webConfig(),
    allowedOrigins: trustedOrigins(serverEnv()),
  });
}

/** /api/auth: better-auth, plus audit rows for refused sign-ins and for sign-outs. */
export function authResponse(req: Request): Promise<Response> {
  return handleAuthRequest(req, { auth: serverAuth(), db: webDb() });
}

export async function createTrpcContext(headers: Headers) {
  const db = webDb();
  return createContext({
    db,
    auth: serverAuth(),
    queue: createJobQueue(db, databaseUrl()),
    headers,
    config: webConfig(),
  });
}

/** The single sign-on provider of the sign-in page, when OIDC is configured. */
export function oidcSignIn() {
  return oidcFromEnv(serverEnv());
}

/** The signed-in session of a server component's request, or null. */
export async function currentSession(headers: Headers) {
  return serverAuth().api.getSession({ headers });
}
