import type { Caller, Role, Scope, World } from "./world";

/**
 * One row of the authorization matrix: a procedure, who may call it, and how to call it.
 *
 * Expected outcome per role and scope (computed by test/authz.test.ts):
 * - anonymous: allowed only when listed in `allow`, else UNAUTHORIZED;
 * - a role not in `allow`: FORBIDDEN or NOT_FOUND, for both scopes (site admins included);
 * - a role in `allow`, scope "own": success;
 * - a role in `allow`, scope "other": for `target: "global"` success; for `target: "team"` FORBIDDEN or
 *   NOT_FOUND — except site admins (success) and `otherTeam: "empty"` (success, but no row of the other team).
 * When the procedure returns rows, `teamsIn` maps the result to the team ids of those rows: every one must be
 * a team the caller may see (team A for role users), or the test fails — lists, searches and counts included.
 * Every mutation call must add exactly one audit row for the procedure (success, failure or denied).
 */
export interface AuthzCase {
  /** The procedure path, e.g. "teams.get". */
  path: string;
  allow: readonly Role[];
  /** "team": the call targets team(scope); "global": the call does not depend on a team. */
  target: "team" | "global";
  /** For team lists filtered by team: another team's filter answers an empty list instead of an error. */
  otherTeam?: "denied" | "empty";
  call(c: { w: World; caller: Caller; role: Role; scope: Scope; teamId: string }): Promise<unknown>;
  teamsIn?(result: unknown, w: World): string[] | Promise<string[]>;
}

/** Typing helper for case files. */
export const cases = (list: AuthzCase[]): AuthzCase[] => list;

export const MEMBERS = ["viewer", "operator", "approver", "admin"] as const satisfies readonly Role[];
export const SIGNED_IN = [...MEMBERS, "site-admin"] as const satisfies readonly Role[];
