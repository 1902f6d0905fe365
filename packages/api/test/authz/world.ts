import { randomUUID } from "node:crypto";
import type { Db } from "@lifeboat/db";
import { recomputeVmTeams } from "@lifeboat/domain";
import { createTestApi } from "../../src/testing";

/**
 * The world the authorization matrix runs in (test/authz.test.ts).
 *
 * Two teams, A and B. Each role user is a member of team A only, in that role; "site-admin" is a site
 * administrator with no membership; "anonymous" has no session. A call for scope "own" targets team A (the
 * caller's own team), scope "other" targets team B. Both teams own one VM (by a name-pattern rule), one job
 * and a few audit rows; `peer(team)` is an operator of that team who files requests the role users decide.
 *
 * Cases that change or delete things use fresh objects (`freshTeam`, `pendingRequest`, `freshUser`) so that
 * every call sees the same world. Add fixtures for your area here, in small helpers.
 */
export const ROLES = ["viewer", "operator", "approver", "admin", "site-admin", "anonymous"] as const;
export type Role = (typeof ROLES)[number];
export type Scope = "own" | "other";

export type TestApi = ReturnType<typeof createTestApi>;
export type Caller = Awaited<ReturnType<TestApi["caller"]>>;

interface Person {
  id: string;
  email: string;
  name: string;
  headers: Headers;
}

export interface World {
  db: Db;
  api: TestApi;
  teamA: string;
  teamB: string;
  engineId: string;
  /** team id → its fixture ids */
  fixtures: Record<string, { vmId: string; jobId: string }>;
  user(role: Exclude<Role, "anonymous">): Person;
  caller(role: Role): Promise<Caller>;
  /** Team A for "own", team B for "other". */
  team(scope: Scope): string;
  /** An operator of the team (not a role user) who files requests. */
  peer(teamId: string): Person;
  /** A new team; for "own" the role user is a member in their role (site admins need no membership). */
  freshTeam(role: Role, scope: Scope, extraMember?: { email: string; role: string }): Promise<string>;
  /** A new account (no team). */
  freshUser(): Promise<{ id: string; email: string }>;
  /** A new pending request of team `teamId`, asked by `by` (default: the team's peer). */
  pendingRequest(teamId: string, by?: { id: string; name: string; email: string }): Promise<string>;
  unique(prefix: string): string;
}

let counter = 0;

export async function buildWorld(db: Db, url: string): Promise<World> {
  const api = createTestApi(db, url);
  const unique = (prefix: string) => `${prefix}-${++counter}-${randomUUID().slice(0, 6)}`;
  const makeTeam = async (name: string) =>
    (await db.team.create({ data: { id: randomUUID(), name, slug: unique(name.toLowerCase()) } })).id;
  const teamA = await makeTeam("Team A");
  const teamB = await makeTeam("Team B");

  const person = async (label: string, role: "admin" | "user" = "user"): Promise<Person> => {
    const u = await api.createUser({ email: `${label}@authz.test`, name: `${label} person`, role });
    return {
      id: u.id,
      email: u.email,
      name: `${label} person`,
      headers: await api.signIn(u.email, u.password),
    };
  };
  const member = async (teamId: string, userId: string, role: string) =>
    db.membership.create({ data: { id: randomUUID(), teamId, userId, role } });

  const users = {} as Record<Exclude<Role, "anonymous">, Person>;
  for (const role of ["viewer", "operator", "approver", "admin"] as const) {
    users[role] = await person(role);
    await member(teamA, users[role].id, role);
  }
  users["site-admin"] = await person("site-admin", "admin");
  const peers: Record<string, Person> = {};
  for (const [teamId, label] of [
    [teamA, "peer-a"],
    [teamB, "peer-b"],
  ] as const) {
    peers[teamId] = await person(label);
    await member(teamId, peers[teamId].id, "operator");
  }
  // Team B has its own approver and admin, so that its requests are decidable by someone.
  await member(teamB, (await person("approver-b")).id, "approver");
  await member(teamB, (await person("admin-b")).id, "admin");

  const engine = await db.engine.create({
    data: {
      name: "authz engine",
      apiUrl: "https://engine.test/ovirt-engine/api",
      username: "x",
      secretSealed: "x",
    },
  });
  const fixtures: World["fixtures"] = {};
  for (const [teamId, prefix] of [
    [teamA, "a"],
    [teamB, "b"],
  ] as const) {
    const vm = await db.vm.create({
      data: { engineId: engine.id, vmId: randomUUID(), name: `${prefix}-web-1` },
    });
    await db.teamVmRule.create({ data: { teamId, kind: "name-pattern", pattern: `${prefix}-*` } });
    const job = await db.job.create({ data: { type: "system.echo", teamId } });
    await db.auditEvent.create({ data: { action: "fixture.event", outcome: "success", teamId } });
    fixtures[teamId] = { vmId: vm.id, jobId: job.id };
  }
  await db.auditEvent.create({ data: { action: "fixture.site-event", outcome: "success" } });
  await recomputeVmTeams(db);

  return {
    db,
    api,
    teamA,
    teamB,
    engineId: engine.id,
    fixtures,
    user: (role) => users[role],
    caller: (role) => api.caller(role === "anonymous" ? new Headers() : users[role].headers),
    team: (scope) => (scope === "own" ? teamA : teamB),
    peer: (teamId) => {
      const p = peers[teamId];
      if (!p) throw new Error(`no peer in team ${teamId}`);
      return p;
    },
    async freshTeam(role, scope, extraMember) {
      const id = await makeTeam(unique("Fresh"));
      if (scope === "own" && role !== "site-admin" && role !== "anonymous")
        await member(id, users[role].id, role);
      // Keep an admin who is not the caller, so that removing or demoting others never hits the last-admin rule.
      await member(id, peers[teamA]?.id ?? "", "admin");
      if (extraMember) {
        const u = await db.user.findUniqueOrThrow({ where: { email: extraMember.email } });
        await member(id, u.id, extraMember.role);
      }
      return id;
    },
    async freshUser() {
      const email = `${unique("fresh")}@authz.test`;
      const u = await api.createUser({ email });
      return { id: u.id, email };
    },
    async pendingRequest(teamId, by) {
      const who = by ?? peers[teamId];
      if (!who) throw new Error(`no requester for team ${teamId}`);
      const r = await db.approvalRequest.create({
        data: {
          teamId,
          kind: "team.assignment",
          payload: { op: "add", teamId, rule: { kind: "tag", tag: unique("tag") } },
          summary: "matrix request",
          reason: "matrix",
          requestedById: who.id,
          requestedByName: who.name,
          requestedByEmail: who.email,
          expiresAt: new Date(Date.now() + 3600_000),
        },
      });
      return r.id;
    },
    unique,
  };
}
