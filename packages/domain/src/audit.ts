import type { Db, Prisma } from "@lifeboat/db";
import { wellFormedText } from "./well-formed";

export type AuditOutcome = "success" | "failure" | "denied";

export interface AuditEntry {
  action: string;
  outcome: AuditOutcome;
  actorId?: string | null;
  actorName?: string | null;
  actorEmail?: string | null;
  teamId?: string | null;
  targetType?: string | null;
  targetId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  details?: Record<string, unknown>;
}

/** What the audit page's free-text search matches (kept beside the row, trigram-indexed). */
export function auditSearchText(entry: AuditEntry): string {
  const parts = [
    entry.action,
    entry.outcome,
    entry.actorName,
    entry.actorEmail,
    entry.targetType,
    entry.targetId,
    entry.ip,
    entry.details && Object.keys(entry.details).length > 0 ? JSON.stringify(entry.details) : null,
  ];
  // Bounded: details may carry long engine messages.
  return parts.filter(Boolean).join(" ").toLowerCase().slice(0, 4000);
}

/** Longest user agent kept: the header is the caller's to choose, the row is permanent. */
export const AUDIT_USER_AGENT_MAX = 256;

/**
 * The entry as it may be stored: every string well-formed (a row must never fail to be written for the text
 * it quotes, such as an error message echoing hostile input) and the user agent cut to AUDIT_USER_AGENT_MAX.
 */
function storable(entry: AuditEntry): AuditEntry {
  const safe = (s: string | null | undefined) => (typeof s === "string" ? wellFormedText(s) : s);
  const details = entry.details
    ? (JSON.parse(
        JSON.stringify(entry.details, (_k, v: unknown) => (typeof v === "string" ? wellFormedText(v) : v)),
      ) as Record<string, unknown>)
    : undefined;
  return {
    action: wellFormedText(entry.action),
    outcome: entry.outcome,
    actorId: safe(entry.actorId),
    actorName: safe(entry.actorName),
    actorEmail: safe(entry.actorEmail),
    teamId: safe(entry.teamId),
    targetType: safe(entry.targetType),
    targetId: safe(entry.targetId),
    ip: safe(entry.ip),
    userAgent: safe(entry.userAgent?.slice(0, AUDIT_USER_AGENT_MAX)),
    details,
  };
}

/** Appends one row to the audit log (the table rejects UPDATE and DELETE). */
export async function recordAudit(db: Db | Prisma.TransactionClient, given: AuditEntry): Promise<void> {
  const entry = storable(given);
  await db.auditEvent.create({
    data: {
      ...entry,
      details: (entry.details ?? undefined) as Prisma.InputJsonValue | undefined,
      searchText: auditSearchText(entry),
    },
  });
}

/**
 * The audit row of a finished job, written by the worker: the outcome with the job's team, its target and who
 * queued it. `state` is the job's final state (succeeded | failed | cancelled).
 */
export async function recordJobOutcome(
  db: Db,
  job: {
    id: string;
    type: string;
    state: string;
    teamId?: string | null;
    createdBy?: string | null;
    vmId?: string | null;
    restorePointId?: string | null;
    error?: string | null;
  },
): Promise<void> {
  const creator = job.createdBy
    ? await db.user.findUnique({
        where: { id: job.createdBy },
        select: { id: true, name: true, email: true },
      })
    : null;
  const outcome: AuditOutcome = job.state === "succeeded" ? "success" : "failure";
  await recordAudit(db, {
    action: `job.${job.state}`,
    outcome,
    actorId: creator?.id ?? null,
    actorName: creator?.name ?? null,
    actorEmail: creator?.email ?? null,
    teamId: job.teamId ?? null,
    targetType: "job",
    targetId: job.id,
    details: {
      type: job.type,
      ...(job.vmId ? { vmId: job.vmId } : {}),
      ...(job.restorePointId ? { restorePointId: job.restorePointId } : {}),
      ...(job.error ? { error: job.error } : {}),
    },
  });
  if (job.state === "failed" && creator) {
    await db.notification.create({
      data: {
        userId: creator.id,
        teamId: job.teamId ?? null,
        kind: "job.failed",
        title: `A ${job.type} job failed`,
        body: job.error?.slice(0, 500) ?? "",
        link: `/jobs/${job.id}`,
      },
    });
  }
}
