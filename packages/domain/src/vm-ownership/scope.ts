import { type Db, Prisma } from "@lifeboat/db";
import type { Actor } from "../context";
import { AppError } from "../errors";

/**
 * Team scoping — the one way to keep a team's VMs, restore points, jobs and requests away from other teams.
 *
 * A VM belongs to the teams in `VmTeam` (derived from the teams' `TeamVmRule`s by `recomputeVmTeams`). For a
 * procedure that declares a team permission, the guard hands over `actor.teamIds`: the teams where the caller
 * holds THAT permission (every team for a site admin). Scope every list, search, count, download and live
 * update with these helpers — never with a hand-written team filter:
 *
 * ```ts
 * const actor = requireActor(ctx);                                  // e.g. permission "restore-point:read"
 * db.restorePoint.findMany({ where: { AND: [restorePointWhere(actor), filters] } });
 * db.vm.count({ where: vmWhere(actor) });
 * db.job.findMany({ where: { AND: [teamRowWhere(actor), filters] } });   // any row with a teamId column
 * Prisma.sql`SELECT … FROM restore_point rp WHERE ${vmInScopeSql(actor, Prisma.raw('rp."vmId"'))}`;
 * const vm = await requireVmInScope(db, actor, vmId);               // one object: NOT_FOUND outside the scope
 * const teamId = await actingTeamForVm(db, actor, vmId, input.teamId); // the team a job/approval acts for
 * ```
 *
 * Site admins are not scoped (they also see VMs that no team owns). Outside the scope answer NOT_FOUND, not
 * FORBIDDEN, so that other teams' object ids cannot be probed.
 */

/** VMs the actor may see. */
export function vmWhere(actor: Actor): Prisma.VmWhereInput {
  if (actor.siteAdmin) return {};
  return { teams: { some: { teamId: { in: actor.teamIds } } } };
}

/** Restore points of VMs the actor may see. */
export function restorePointWhere(actor: Actor): Prisma.RestorePointWhereInput {
  if (actor.siteAdmin) return {};
  return { vm: vmWhere(actor) };
}

/** Rows that carry their team (jobs, policies, approval requests, audit events…): the actor's teams only. */
export function teamRowWhere(actor: Actor): { teamId?: { in: string[] } } {
  if (actor.siteAdmin) return {};
  return { teamId: { in: actor.teamIds } };
}

/** Raw-SQL form of `vmWhere`: a condition on a column holding catalog VM ids (`vm.id`). */
export function vmInScopeSql(actor: Actor, vmIdColumn: Prisma.Sql): Prisma.Sql {
  if (actor.siteAdmin) return Prisma.sql`TRUE`;
  if (actor.teamIds.length === 0) return Prisma.sql`FALSE`;
  return Prisma.sql`${vmIdColumn} IN (SELECT "vmId" FROM vm_team WHERE "teamId" IN (${Prisma.join(actor.teamIds)}))`;
}

/** Whether the actor holds the procedure's permission in `teamId`. */
export function inTeamScope(actor: Actor, teamId: string | null | undefined): boolean {
  if (actor.siteAdmin) return true;
  return teamId != null && actor.teamIds.includes(teamId);
}

/** Refuses a team-targeted call unless the caller holds the operation's permission in `teamId`. */
export function requireTeamScope(actor: Actor, teamId: string): void {
  if (!inTeamScope(actor, teamId))
    throw new AppError("FORBIDDEN", "Your role in that team does not allow this (or you are not a member).");
}

/** The catalog VM (`vm.id`) with its owning teams, or NOT_FOUND when the actor may not see it. */
export async function requireVmInScope(db: Db, actor: Actor, vmId: string) {
  const vm = await db.vm.findUnique({
    where: { id: vmId },
    include: { teams: { select: { teamId: true } } },
  });
  if (!vm || !(actor.siteAdmin || vm.teams.some((t) => actor.teamIds.includes(t.teamId))))
    throw new AppError("NOT_FOUND", "No such VM (or it belongs to another team).");
  return vm;
}

/**
 * The team an operation on a VM acts for (its job's and approval request's team): `preferred` when it owns the
 * VM and is in the actor's scope, else the first such team. Null only for a site admin acting on a VM no team
 * owns. NOT_FOUND when the actor may not see the VM.
 */
export async function actingTeamForVm(
  db: Db,
  actor: Actor,
  vmId: string,
  preferred?: string | null,
): Promise<string | null> {
  const vm = await requireVmInScope(db, actor, vmId);
  const candidates = vm.teams
    .map((t) => t.teamId)
    .filter((id) => actor.siteAdmin || actor.teamIds.includes(id))
    .sort();
  if (preferred) {
    if (candidates.includes(preferred)) return preferred;
    throw new AppError("FORBIDDEN", "That team does not own this VM, or you do not act for it.");
  }
  return candidates[0] ?? null;
}
