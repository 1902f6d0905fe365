import { type Auth, createContext, getAuth } from "@lifeboat/api";
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

export async function createTrpcContext(headers: Headers) {
  const db = getDb(databaseUrl());
  return createContext({ db, auth: serverAuth(), queue: createJobQueue(db, databaseUrl()), headers });
}

/** The signed-in session of a server component's request, or null. */
export async function currentSession(headers: Headers) {
  return serverAuth().api.getSession({ headers });
}
