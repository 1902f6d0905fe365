import { type Auth, clientIp } from "@lifeboat/auth";
import type { Db } from "@lifeboat/db";
import type { AuditNote, DomainConfig } from "@lifeboat/domain";
import type { JobQueue } from "@lifeboat/jobs";

export type AuthSession = NonNullable<Awaited<ReturnType<Auth["api"]["getSession"]>>>;

export interface Context {
  db: Db;
  auth: Auth;
  queue: JobQueue;
  session: AuthSession | null;
  ip: string | null;
  userAgent: string | null;
  audit: AuditNote;
  /** The process's configuration, built once at its edge (`domainConfig(serverEnv())`). */
  config: DomainConfig;
}

export async function createContext(opts: {
  db: Db;
  auth: Auth;
  queue: JobQueue;
  headers: Headers;
  config: DomainConfig;
}): Promise<Context> {
  const session = await opts.auth.api.getSession({ headers: opts.headers });
  return {
    db: opts.db,
    auth: opts.auth,
    queue: opts.queue,
    session,
    ip: clientIp(opts.headers),
    userAgent: opts.headers.get("user-agent"),
    audit: {},
    config: opts.config,
  };
}
