import type { AuditFilters, AuditRow } from "./list";

/**
 * CSV export of the audit log for the web route (GET /api/audit): pages through `audit.list` with the caller's
 * own permissions and scope, and streams the rows as they come — never the whole log in memory.
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

/** Streams the filtered log as CSV, page by page (`list` is `caller.audit.list`). */
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
