import { type Auth, createContext, createJobQueue, getAuth, recordAudit } from "@lifeboat/api";
import { serverEnv } from "@lifeboat/config";
import { getDb } from "@lifeboat/db";

/** The web process's auth instance: sign-ins (successful or not) land in the audit log. */
export function serverAuth(): Auth {
  return getAuth(async ({ email, ok, userId, headers }) => {
    await recordAudit(getDb(), {
      action: "auth.sign-in",
      outcome: ok ? "success" : "failure",
      actorId: userId ?? null,
      actorEmail: email || null,
      ip: headers?.get("x-forwarded-for")?.split(",")[0]?.trim() ?? null,
      userAgent: headers?.get("user-agent") ?? null,
    });
  });
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
