import type { Db, Prisma } from "@lifeboat/db";

export interface AuditEntry {
  action: string;
  outcome: "success" | "failure" | "denied";
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

/** Appends one row to the audit log (the table rejects UPDATE and DELETE). */
export async function recordAudit(db: Db, entry: AuditEntry): Promise<void> {
  await db.auditEvent.create({
    data: { ...entry, details: (entry.details ?? undefined) as Prisma.InputJsonValue | undefined },
  });
}
