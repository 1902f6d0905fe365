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

/** Who decides a request touching other teams' VMs: site administrators and those teams' admins. */
async function siteAdmins(db: Db): Promise<Recipient[]> {
  return db.user.findMany({
    where: { role: "admin", banned: { not: true } },
    select: { id: true, name: true, email: true },
  });
}

async function teamAdmins(db: Db, teamId: string): Promise<Recipient[]> {
  const rows = await db.membership.findMany({
    where: { teamId, role: "admin", user: { banned: { not: true } } },
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
    otherTeamIds: r.otherTeamIds,
    requestedBy: { name: r.requestedByName, email: r.requestedByEmail },
    decidedBy: r.decidedByEmail ? { name: r.decidedByName, email: r.decidedByEmail } : null,
    decisionComment: r.decisionComment,
    expiresAt: r.expiresAt.toISOString(),
    jobId: r.jobId,
  };
}

/**
 * Tells those who decide a request (except the requester) that it waits for them: the team's approvers, or —
 * for a request touching other teams' VMs — the site administrators, and each of those teams' admins under
 * their own team.
 */
export async function notifyRequested(db: Db, config: NotifyConfig, r: ApprovalRequest) {
  const event = {
    type: "approval.requested",
    title: `Approval needed: ${r.summary}`,
    body:
      `${r.requestedByName} <${r.requestedByEmail}> asks for: ${r.summary}\n` +
      `Reason: ${r.reason}\nThe request expires ${r.expiresAt.toUTCString()}.`,
    link: link(r),
    data: facts(r),
  };
  const notRequester = (people: Recipient[]) => people.filter((a) => a.id !== r.requestedById);
  if (r.otherTeamIds.length === 0) {
    await notify(db, config, { ...event, teamId: r.teamId }, notRequester(await teamApprovers(db, r.teamId)));
    return;
  }
  await notify(db, config, { ...event, teamId: r.teamId }, notRequester(await siteAdmins(db)));
  for (const teamId of r.otherTeamIds)
    await notify(
      db,
      config,
      { ...event, teamId, title: `Another team asks for your team's VMs: ${r.summary}` },
      notRequester(await teamAdmins(db, teamId)),
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
  // The teams whose VMs it touched hear how it ended too.
  for (const teamId of r.otherTeamIds)
    await notify(
      db,
      config,
      {
        type: `approval.${r.state}`,
        teamId,
        title: w[0],
        body: `${r.requestedByName} <${r.requestedByEmail}> asked for it.\n${w[1]}`,
        link: link(r),
        data: facts(r),
      },
      await teamAdmins(db, teamId),
    );
}
