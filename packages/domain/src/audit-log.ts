import type { Db, Prisma } from "@lifeboat/db";
import { z } from "zod";
import type { Actor } from "./context";
import { AppError } from "./errors";
import { teamRowWhere } from "./vm-ownership";

export const auditFilters = z.object({
  /** Matches the actor's name or e-mail (part of it). */
  actor: z.string().trim().max(200).optional(),
  /** An action ("approvals.approve") or a prefix ending in a dot ("approval."). */
  action: z.string().trim().max(200).optional(),
  teamId: z.string().max(100).optional(),
  outcome: z.enum(["success", "failure", "denied"]).optional(),
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  /** Free text over action, people, target, IP and details. */
  q: z.string().trim().max(200).optional(),
});
export type AuditFilters = z.infer<typeof auditFilters>;

export const auditLogQuery = auditFilters.extend({
  /** `nextCursor` of the previous page. */
  cursor: z.string().max(200).optional(),
  limit: z.number().int().min(1).max(500).default(50),
});

export const auditRow = z.object({
  id: z.string(),
  at: z.date(),
  actorId: z.string().nullable(),
  actorName: z.string().nullable(),
  actorEmail: z.string().nullable(),
  teamId: z.string().nullable(),
  teamName: z.string().nullable(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  outcome: z.string(),
  details: z.unknown(),
});
export type AuditRow = z.infer<typeof auditRow>;

export type AuditLogQuery = z.input<typeof auditLogQuery>;

export const auditLogPage = z.object({ items: z.array(auditRow), nextCursor: z.string().nullable() });

function parseCursor(cursor: string): { at: Date; id: string } {
  const [at, id] = cursor.split("|");
  const date = new Date(at ?? "");
  if (!id || Number.isNaN(date.getTime())) throw new AppError("BAD_REQUEST", "That page link is not valid.");
  return { at: date, id };
}

function filterWhere(f: AuditFilters): Prisma.AuditEventWhereInput[] {
  const where: Prisma.AuditEventWhereInput[] = [];
  if (f.actor)
    where.push(
      // The trigram-indexed search text holds names and e-mails: it narrows the rows, the columns decide.
      { searchText: { contains: f.actor.toLowerCase() } },
      {
        OR: [
          { actorEmail: { contains: f.actor, mode: "insensitive" } },
          { actorName: { contains: f.actor, mode: "insensitive" } },
        ],
      },
    );
  if (f.action)
    where.push(f.action.endsWith(".") ? { action: { startsWith: f.action } } : { action: f.action });
  if (f.teamId) where.push({ teamId: f.teamId });
  if (f.outcome) where.push({ outcome: f.outcome });
  if (f.from) where.push({ at: { gte: f.from } });
  if (f.to) where.push({ at: { lte: f.to } });
  if (f.q) where.push({ searchText: { contains: f.q.toLowerCase() } });
  return where;
}

/**
 * The audit log, newest first, with keyset pagination. Site administrators see every row; team admins and
 * approvers see their teams' rows only.
 */
export async function listAuditLog(
  db: Db,
  actor: Actor,
  query: AuditLogQuery,
): Promise<z.infer<typeof auditLogPage>> {
  const input = auditLogQuery.parse(query);
  const after = input.cursor ? parseCursor(input.cursor) : null;
  const rows = await db.auditEvent.findMany({
    where: {
      AND: [
        teamRowWhere(actor),
        ...filterWhere(input),
        after ? { OR: [{ at: { lt: after.at } }, { at: after.at, id: { lt: after.id } }] } : {},
      ],
    },
    orderBy: [{ at: "desc" }, { id: "desc" }],
    take: input.limit + 1,
  });
  const items = rows.slice(0, input.limit);
  const teamIds = [...new Set(items.map((r) => r.teamId).filter((id): id is string => id !== null))];
  const teams = await db.team.findMany({
    where: { id: { in: teamIds } },
    select: { id: true, name: true },
  });
  const names = new Map(teams.map((t) => [t.id, t.name]));
  const last = items.at(-1);
  return {
    items: items.map((r) => ({
      id: r.id,
      at: r.at,
      actorId: r.actorId,
      actorName: r.actorName,
      actorEmail: r.actorEmail,
      teamId: r.teamId,
      teamName: r.teamId ? (names.get(r.teamId) ?? null) : null,
      action: r.action,
      targetType: r.targetType,
      targetId: r.targetId,
      ip: r.ip,
      userAgent: r.userAgent,
      outcome: r.outcome,
      details: r.details,
    })),
    nextCursor: rows.length > input.limit && last ? `${last.at.toISOString()}|${last.id}` : null,
  };
}

/**
 * CSV export of the audit log for the web route (GET /api/audit): pages through `listAuditLog` (or `audit.list`)
 * with the caller's own permissions and scope, and streams the rows as they come — never the whole log in memory.
 */
export const AUDIT_CSV_COLUMNS = [
  "at",
  "outcome",
  "action",
  "actor_name",
  "actor_email",
  "team",
  "target_type",
  "target_id",
  "ip",
  "user_agent",
  "details",
] as const;

/** One CSV field: quoted when needed, and defused when a spreadsheet would read it as a formula. */
export function csvField(value: unknown): string {
  let s =
    value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function auditCsvLine(r: AuditRow): string {
  return `${[
    r.at.toISOString(),
    r.outcome,
    r.action,
    r.actorName,
    r.actorEmail,
    r.teamName ?? r.teamId,
    r.targetType,
    r.targetId,
    r.ip,
    r.userAgent,
    r.details && Object.keys(r.details as object).length > 0 ? r.details : "",
  ]
    .map(csvField)
    .join(",")}\r\n`;
}

type ListPage = (input: AuditFilters & { cursor?: string; limit: number }) => Promise<{
  items: AuditRow[];
  nextCursor: string | null;
}>;

/** Streams the filtered log as CSV, page by page (`list`: one page of the log for the caller). */
export function auditCsvStream(list: ListPage, filters: AuditFilters): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let cursor: string | undefined;
  let started = false;
  let done = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!started) {
        started = true;
        controller.enqueue(encoder.encode(`${AUDIT_CSV_COLUMNS.join(",")}\r\n`));
        return;
      }
      if (done) return controller.close();
      const page = await list({ ...filters, cursor, limit: 500 });
      if (page.items.length > 0) controller.enqueue(encoder.encode(page.items.map(auditCsvLine).join("")));
      cursor = page.nextCursor ?? undefined;
      if (!cursor) {
        done = true;
        controller.close();
      }
    },
  });
}
