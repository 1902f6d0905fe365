import type { Db } from "@lifeboat/db";
import type { JobQueue } from "@lifeboat/jobs";
import type { DomainConfig } from "./config";
import { AppError } from "./errors";

/** Who calls a domain operation, with the scope the permission guard resolved for it. */
export interface Actor {
  userId: string;
  name: string;
  email: string;
  siteAdmin: boolean;
  /** For team permissions: the teams where the caller holds the operation's permission. */
  teamIds: string[];
}

/** Facts an operation adds to its audit row (the adapter writes one row for every mutation). */
export interface AuditNote {
  action?: string;
  targetType?: string;
  targetId?: string;
  teamId?: string;
  details?: Record<string, unknown>;
}

/** What an operation that acts for a caller needs: the catalog, the queue, the caller and its audit note. */
export interface ServiceContext {
  db: Db;
  queue: JobQueue;
  /** Null only where the guard let an anonymous caller through (public operations). */
  actor: Actor | null;
  audit: AuditNote;
  ip: string | null;
  userAgent: string | null;
  /** The process's configuration (sealing key, repository, where notifications go). */
  config: DomainConfig;
}

/** The signed-in caller of an operation that is not public (the adapter's guard has checked the permission). */
export function requireActor(ctx: { actor: Actor | null }): Actor {
  if (!ctx.actor) throw new AppError("UNAUTHORIZED", "Sign in to continue.");
  return ctx.actor;
}
