import type { ApprovalRequest, Db } from "@lifeboat/db";
import { recordAudit } from "../audit";
import type { NotifyConfig } from "../notify";
import { notifyOutcome } from "./notify";

/** An approved request whose operation never started this long after the decision was interrupted. */
const INTERRUPTED_AFTER_MS = 15 * 60_000;

export interface ExpireResult {
  expired: number;
  interrupted: number;
}

/**
 * Expires pending requests past their deadline (nothing runs for them, the requester is told), and marks as
 * failed the approved requests whose operation never ran (the deciding process died in between) instead of
 * running them late. Safe to call concurrently: each row changes state once (conditional UPDATE … RETURNING).
 * Runs lazily before approvals are read and every minute from the worker (`approvals.expire`).
 */
export async function expireApprovals(
  db: Db,
  opts: { now?: Date; notify: NotifyConfig },
): Promise<ExpireResult> {
  const now = opts.now ?? new Date();
  const expired = await db.$queryRaw<ApprovalRequest[]>`
    UPDATE approval_request SET state = 'expired'
    WHERE state = 'pending' AND "expiresAt" <= ${now}
    RETURNING *`;
  const cutoff = new Date(now.getTime() - INTERRUPTED_AFTER_MS);
  const interrupted = await db.$queryRaw<ApprovalRequest[]>`
    UPDATE approval_request
    SET state = 'failed', "executionError" = 'Lifeboat stopped before the approved operation started; request it again.'
    WHERE state = 'approved' AND "executedAt" IS NULL AND "decidedAt" <= ${cutoff}
    RETURNING *`;
  for (const r of expired) {
    await recordAudit(db, {
      action: "approval.expired",
      outcome: "success",
      teamId: r.teamId,
      targetType: "approval_request",
      targetId: r.id,
      details: {
        kind: r.kind,
        summary: r.summary,
        requestedBy: { name: r.requestedByName, email: r.requestedByEmail },
        expiresAt: r.expiresAt.toISOString(),
      },
    });
    await notifyOutcome(db, opts.notify, r);
  }
  for (const r of interrupted) {
    await recordAudit(db, {
      action: "approval.executed",
      outcome: "failure",
      teamId: r.teamId,
      targetType: "approval_request",
      targetId: r.id,
      details: { kind: r.kind, summary: r.summary, error: r.executionError },
    });
    await notifyOutcome(db, opts.notify, r);
  }
  return { expired: expired.length, interrupted: interrupted.length };
}
