import type { ApprovalRequest, Db, Prisma } from "@lifeboat/db";
import type { Actor } from "../context";
import { roleGrants } from "../permissions";
import { grantRefusal, type RoleGrant } from "../role-grants";
import { inTeamScope } from "../vm-ownership";

/** Whether a request is in the actor's scope: of their teams, or touching their teams' VMs. */
export function requestInScope(actor: Actor, r: Pick<ApprovalRequest, "teamId" | "otherTeamIds">): boolean {
  return inTeamScope(actor, r.teamId) || r.otherTeamIds.some((id) => inTeamScope(actor, id));
}

/** What a person decides requests with: their site role and team roles, each with who gave it and when. */
export interface Decider {
  userId: string;
  /** Null unless a site administrator. */
  siteAdmin: RoleGrant | null;
  memberships: ReadonlyMap<string, { role: string } & RoleGrant>;
}

export async function loadDecider(db: Db, actor: Actor): Promise<Decider> {
  const grant = { roleGrantedById: true, roleGrantedAt: true } as const;
  const user = await db.user.findUnique({
    where: { id: actor.userId },
    select: { role: true, ...grant, memberships: { select: { teamId: true, role: true, ...grant } } },
  });
  const siteAdmin = actor.siteAdmin && user?.role === "admin" ? user : null;
  // A site admin who gave themselves a team role holds it by their site role: it counts only as that one does
  // (else whoever made a second account a site admin could have it appoint itself).
  const effective = (m: { teamId: string; role: string } & RoleGrant) =>
    siteAdmin && m.roleGrantedById === actor.userId
      ? {
          ...m,
          roleGrantedById: siteAdmin.roleGrantedById,
          roleGrantedAt: latest(m.roleGrantedAt, siteAdmin.roleGrantedAt),
        }
      : m;
  return {
    userId: actor.userId,
    siteAdmin,
    memberships: new Map((user?.memberships ?? []).map((m) => [m.teamId, effective(m)])),
  };
}

function latest(a: Date | null, b: Date | null): Date | null {
  if (a === null || b === null) return a ?? b;
  return a > b ? a : b;
}

type Decidable = Pick<ApprovalRequest, "teamId" | "requestedById" | "createdAt" | "otherTeamIds">;

/**
 * Why `d` may not decide the request, or null when they may. Never the requester. A request that touches other
 * teams' VMs is decided by a site administrator or by an admin of each of those teams (the requesting team's
 * approvers could otherwise hand themselves another team's VMs); any other request by an approver or admin of
 * the requesting team (being a site administrator is not enough). The role decided with counts only when it was
 * held before the request was filed and not given by the requester (no second account set up for the purpose).
 * `names` gives team names for the message.
 */
export function decisionRefusal(
  r: Decidable,
  d: Decider,
  names: ReadonlyMap<string, string> = new Map(),
): string | null {
  if (r.requestedById === d.userId)
    return "You cannot decide on your own request: another approver of the team must.";
  const name = (id: string) => names.get(id) ?? "another team";
  if (r.otherTeamIds.length > 0) {
    const teams = r.otherTeamIds.map(name).join(", ");
    const siteRefusal = d.siteAdmin ? grantRefusal(d.siteAdmin, r) : null;
    if (d.siteAdmin && !siteRefusal) return null;
    const admins = r.otherTeamIds.map((id) => d.memberships.get(id));
    const adminRefusal = admins
      .map((m) => (m?.role === "admin" ? grantRefusal(m, r) : null))
      .find((x) => x !== null);
    if (admins.every((m) => m?.role === "admin") && !adminRefusal) return null;
    const why = siteRefusal ?? adminRefusal;
    return (
      `This change touches VMs of ${teams}: only a site administrator or an admin of ${teams} decides it` +
      (why ? ` (${why}, so your role does not count for it).` : ".")
    );
  }
  const m = d.memberships.get(r.teamId);
  if (!m || !roleGrants(m.role, "approval:decide"))
    return `Only members of the team ${name(r.teamId)} with the approver or admin role decide its requests.`;
  const why = grantRefusal(m, r);
  if (why) return `Your role in the team ${name(r.teamId)} does not count for this request: ${why}.`;
  return null;
}

/**
 * The pending requests `d` might decide, as a query (their own excluded). It cannot compare grant dates with
 * each request's: filter what it finds with `decisionRefusal`.
 */
export function mayDecideWhere(d: Decider): Prisma.ApprovalRequestWhereInput {
  const teams = [...d.memberships];
  const approverOf = teams.filter(([, m]) => roleGrants(m.role, "approval:decide")).map(([id]) => id);
  const adminOf = teams.filter(([, m]) => m.role === "admin").map(([id]) => id);
  return {
    state: "pending",
    requestedById: { not: d.userId },
    OR: [
      { teamId: { in: approverOf }, otherTeamIds: { isEmpty: true } },
      d.siteAdmin ? { otherTeamIds: { isEmpty: false } } : { otherTeamIds: { hasSome: adminOf } },
    ],
  };
}
