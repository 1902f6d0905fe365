import type { Db, Prisma } from "@lifeboat/db";
import { malformedInput, wellFormedText } from "./well-formed";

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

/** Rows written one by one per window for denied calls without a session; the rest are only counted. */
export const ANONYMOUS_DENIAL_ROWS = 10;
/** The window of ANONYMOUS_DENIAL_ROWS, after which the calls counted in it are written as one summary row. */
export const ANONYMOUS_DENIAL_WINDOW_MS = 60_000;
/** Distinct actions and addresses a summary row names; the rest are counted under "other". */
const SUMMARY_KEYS = 50;

interface DenialWindow {
  start: number;
  written: number;
  held: number;
  actions: Map<string, number>;
  addresses: Map<string, number>;
  timer?: ReturnType<typeof setTimeout>;
}

// Per catalog client, which is one per process (tests: one per test database).
const anonymousWindows = new WeakMap<object, DenialWindow>();

function countInto(counts: Map<string, number>, key: string): void {
  const k = counts.has(key) || counts.size < SUMMARY_KEYS ? key : "other";
  counts.set(k, (counts.get(k) ?? 0) + 1);
}

/** The summary row of the calls `w` counted but did not write, taken from it (synchronously), or null. */
function takeSummary(w: DenialWindow, now: number): AuditEntry | null {
  if (w.timer) clearTimeout(w.timer);
  w.timer = undefined;
  if (w.held === 0) return null;
  const entry: AuditEntry = {
    action: "audit.anonymousDenials",
    outcome: "denied",
    details: {
      count: w.held,
      from: new Date(w.start).toISOString(),
      to: new Date(now).toISOString(),
      actions: Object.fromEntries(w.actions),
      addresses: Object.fromEntries(w.addresses),
    },
  };
  w.held = 0;
  w.actions = new Map();
  w.addresses = new Map();
  return entry;
}

/**
 * Writes the summary of the anonymous denials counted but not yet written (done by a timer at the end of
 * each window that counted any; call it before a process stops).
 */
export async function flushAnonymousDenials(db: Db): Promise<void> {
  const w = anonymousWindows.get(db);
  const summary = w ? takeSummary(w, Date.now()) : null;
  if (summary) await recordAudit(db, summary);
}

/**
 * The audit row of a call the guard refused. Anyone can send calls without a session, so those are
 * rate-limited: the first ANONYMOUS_DENIAL_ROWS of each window are written, the others counted into one
 * summary row (by action and address) at the window's end. The team a refused call aimed at
 * (`claimedTeamId`, from its unvalidated input) is kept only when the caller is a member of it, so that
 * team's admins see the attempt and nobody can write rows into a team they do not belong to.
 */
export async function recordDenial(db: Db, entry: AuditEntry, claimedTeamId?: string | null): Promise<void> {
  if (!entry.actorId) {
    const now = Date.now();
    let w = anonymousWindows.get(db);
    let summary: AuditEntry | null = null;
    if (!w || now - w.start >= ANONYMOUS_DENIAL_WINDOW_MS) {
      summary = w ? takeSummary(w, now) : null;
      w = { start: now, written: 0, held: 0, actions: new Map(), addresses: new Map() };
      anonymousWindows.set(db, w);
    }
    if (summary) await recordAudit(db, summary);
    if (w.written < ANONYMOUS_DENIAL_ROWS) {
      w.written++;
      await recordAudit(db, { ...entry, teamId: null });
      return;
    }
    w.held++;
    countInto(w.actions, entry.action);
    countInto(w.addresses, entry.ip ?? "unknown");
    if (!w.timer) {
      w.timer = setTimeout(
        () => void flushAnonymousDenials(db).catch((e) => console.error("[audit] anonymous denials:", e)),
        w.start + ANONYMOUS_DENIAL_WINDOW_MS - now,
      );
      w.timer.unref?.();
    }
    return;
  }
  const member =
    claimedTeamId && !malformedInput(claimedTeamId)
      ? await db.membership.findUnique({
          where: { teamId_userId: { teamId: claimedTeamId, userId: entry.actorId } },
          select: { teamId: true },
        })
      : null;
  await recordAudit(db, { ...entry, teamId: member?.teamId ?? null });
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
