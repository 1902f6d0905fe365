import { type Auth, createContext, getAuth } from "@lifeboat/api";
import { handleAuthRequest, handleTrpcRequest, trustedOrigins } from "@lifeboat/api/http";
import { serverEnv } from "@lifeboat/config";
import { getDb } from "@lifeboat/db";
import { createJobQueue } from "@lifeboat/jobs";

/** The web process's auth instance (it writes sign-ins, successful or not, to the audit log itself). */
export function serverAuth(): Auth {
  return getAuth();
}

export function databaseUrl(): string {
  const url = serverEnv().DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set: start Lifeboat with `pnpm start`");
  return url;
}

/** /api/trpc: origin check, no body read without a session, batch cap, health status (see handleTrpcRequest). */
export function trpcResponse(req: Request): Promise<Response> {
  const db = getDb(databaseUrl());
  const queue = createJobQueue(db, databaseUrl());
  return handleTrpcRequest(req, {
    db,
    auth: serverAuth(),
    queue,
    allowedOrigins: trustedOrigins(serverEnv()),
  });
}

/** /api/auth: better-auth, plus audit rows for refused sign-ins and for sign-outs. */
export function authResponse(req: Request): Promise<Response> {
  return handleAuthRequest(req, { auth: serverAuth(), db: getDb(databaseUrl()) });
}

export async function createTrpcContext(headers: Headers) {
  const db = getDb(databaseUrl());
  return createContext({ db, auth: serverAuth(), queue: createJobQueue(db, databaseUrl()), headers });
}

/** The signed-in session of a server component's request, or null. */
export async function currentSession(headers: Headers) {
  return serverAuth().api.getSession({ headers });
}
