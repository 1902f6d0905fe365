import type { ApprovalRequest, Db } from "@lifeboat/db";
import { type NotifyConfig, notify, type Recipient } from "../notify";
import { rolesGranting } from "../permissions";

/** The members who decide the team's requests (approver or admin role), not disabled. */
export async function teamApprovers(db: Db, teamId: string): Promise<Recipient[]> {
  const rows = await db.membership.findMany({
    where: { teamId, role: { in: rolesGranting("approval:decide") }, user: { banned: { not: true } } },
    select: { user: { select: { id: true, name: true, email: true } } },
  });
  return rows.map((r) => r.user);
}

function requester(r: ApprovalRequest): Recipient {
  return { id: r.requestedById, name: r.requestedByName, email: r.requestedByEmail };
}

function link(r: ApprovalRequest): string {
  return `/approvals?id=${encodeURIComponent(r.id)}`;
}

function facts(r: ApprovalRequest): Record<string, unknown> {
  return {
    approvalRequestId: r.id,
    kind: r.kind,
    state: r.state,
    summary: r.summary,
    reason: r.reason,
    target: r.targetType ? { type: r.targetType, id: r.targetId } : null,
    requestedBy: { name: r.requestedByName, email: r.requestedByEmail },
    decidedBy: r.decidedByEmail ? { name: r.decidedByName, email: r.decidedByEmail } : null,
    decisionComment: r.decisionComment,
    expiresAt: r.expiresAt.toISOString(),
    jobId: r.jobId,
  };
}

/** Tells the team's approvers (except the requester) that a request waits for them. */
export async function notifyRequested(db: Db, config: NotifyConfig, r: ApprovalRequest) {
  const approvers = (await teamApprovers(db, r.teamId)).filter((a) => a.id !== r.requestedById);
  await notify(
    db,
    config,
    {
      type: "approval.requested",
      teamId: r.teamId,
      title: `Approval needed: ${r.summary}`,
      body:
        `${r.requestedByName} <${r.requestedByEmail}> asks for: ${r.summary}\n` +
        `Reason: ${r.reason}\nThe request expires ${r.expiresAt.toUTCString()}.`,
      link: link(r),
      data: facts(r),
    },
    approvers,
  );
}

/** Tells the requester what became of their request (approved, rejected, expired, or failed to run). */
export async function notifyOutcome(db: Db, config: NotifyConfig, r: ApprovalRequest) {
  const by = r.decidedByEmail ? `${r.decidedByName} <${r.decidedByEmail}>` : "Nobody";
  const words: Record<string, [string, string]> = {
    approved: [`Approved: ${r.summary}`, `${by} approved it.\nComment: ${r.decisionComment ?? ""}`],
    rejected: [
      `Rejected: ${r.summary}`,
      `${by} rejected it; nothing was run.\nComment: ${r.decisionComment ?? ""}`,
    ],
    expired: [
      `Expired: ${r.summary}`,
      "Nobody decided in time; nothing was run. Ask again if it is still needed.",
    ],
    failed: [
      `Approved but could not run: ${r.summary}`,
      `${by} approved it, but it could not run: ${r.executionError ?? "unknown error"}`,
    ],
  };
  const w = words[r.state];
  if (!w) return;
  await notify(
    db,
    config,
    { type: `approval.${r.state}`, teamId: r.teamId, title: w[0], body: w[1], link: link(r), data: facts(r) },
    [requester(r)],
  );
}
