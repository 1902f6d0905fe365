import type { Db } from "@lifeboat/db";
import type { Actor } from "./context";
import { isTeamPermission, type Permission, roleGrants } from "./permissions";

/** A signed-in person, before their scope for an operation is known. */
export interface Person {
  userId: string;
  name: string;
  email: string;
  siteAdmin: boolean;
}

/**
 * The actor of `person` for an operation that needs `permission`: for a team permission, `teamIds` lists the
 * teams where one of their roles grants it (every team for a site administrator); for any other permission it
 * is empty. Whether the person may call the operation at all is the adapter's guard's decision (it refuses a
 * team permission with no team, a site permission without site administration).
 */
export async function actorFor(db: Db, person: Person, permission: Permission): Promise<Actor> {
  const actor: Actor = { ...person, teamIds: [] };
  if (!isTeamPermission(permission)) return actor;
  if (person.siteAdmin) actor.teamIds = (await db.team.findMany({ select: { id: true } })).map((t) => t.id);
  else {
    const memberships = await db.membership.findMany({
      where: { userId: person.userId },
      select: { teamId: true, role: true },
    });
    actor.teamIds = memberships.filter((m) => roleGrants(m.role, permission)).map((m) => m.teamId);
  }
  return actor;
}
