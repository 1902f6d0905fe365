import type { Db } from "@lifeboat/db";
import type { Auth } from "./auth/auth";
import { clientIp } from "./http/client-ip";
import type { JobQueue } from "./queue/enqueue";
import type { NotifyConfig } from "./services/notify";

export type AuthSession = NonNullable<Awaited<ReturnType<Auth["api"]["getSession"]>>>;

/** What a signed-in caller is allowed to do for the procedure being called (set by the permission guard). */
export interface Actor {
  userId: string;
  name: string;
  email: string;
  siteAdmin: boolean;
  /** For team permissions: the teams where the caller holds the procedure's permission. */
  teamIds: string[];
}

/** Facts a procedure adds to its audit row (the guard writes one row for every mutation). */
export interface AuditNote {
  action?: string;
  targetType?: string;
  targetId?: string;
  teamId?: string;
  details?: Record<string, unknown>;
}

export interface Context {
  db: Db;
  auth: Auth;
  queue: JobQueue;
  session: AuthSession | null;
  ip: string | null;
  userAgent: string | null;
  audit: AuditNote;
  /** Where notifications go besides the app (webhook, e-mail); read from the environment when unset. */
  notify?: NotifyConfig;
}

export async function createContext(opts: {
  db: Db;
  auth: Auth;
  queue: JobQueue;
  headers: Headers;
  notify?: NotifyConfig;
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
    notify: opts.notify,
  };
}
