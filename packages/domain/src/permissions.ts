/**
 * Every permission a procedure can declare. Deny by default: the permission middleware refuses a procedure
 * that declares none, and a test enumerates the router to prove every procedure declares one.
 *
 * - `public`: anyone, signed in or not (health checks).
 * - `authenticated`: any signed-in user; the procedure only shows the caller their own data.
 * - `site:*`: site administrators (user.role === "admin").
 * - team permissions: granted by a membership role in a team; the middleware hands the procedure the list of
 *   team ids where the caller holds the permission, and the procedure scopes every query to them.
 */
export const TEAM_ROLES = ["viewer", "operator", "approver", "admin"] as const;
export type TeamRole = (typeof TEAM_ROLES)[number];

export const TEAM_PERMISSIONS = [
  "team:read",
  "approval:read",
  "vm:read",
  "restore-point:read",
  "job:read",
  "backup:create",
  "job:cancel",
  "restore:request",
  "image:download",
  "approval:decide",
  "policy:read",
  "policy:manage",
  "team:manage",
  "audit:read",
] as const;
export type TeamPermission = (typeof TEAM_PERMISSIONS)[number];

export const SITE_PERMISSIONS = ["site:engines", "site:teams", "site:users", "site:diagnostics"] as const;
export type SitePermission = (typeof SITE_PERMISSIONS)[number];

export type Permission = "public" | "authenticated" | SitePermission | TeamPermission;

const viewer: TeamPermission[] = [
  "team:read",
  "approval:read",
  "vm:read",
  "restore-point:read",
  "job:read",
  "policy:read",
];

export const ROLE_PERMISSIONS: Record<TeamRole, ReadonlySet<TeamPermission>> = {
  viewer: new Set(viewer),
  operator: new Set([...viewer, "backup:create", "job:cancel", "restore:request", "image:download"]),
  approver: new Set([...viewer, "approval:decide", "audit:read"]),
  admin: new Set([...TEAM_PERMISSIONS]),
};

export function isTeamPermission(p: Permission): p is TeamPermission {
  return (TEAM_PERMISSIONS as readonly string[]).includes(p);
}

export function isSitePermission(p: Permission): p is SitePermission {
  return (SITE_PERMISSIONS as readonly string[]).includes(p);
}

export function isTeamRole(role: string): role is TeamRole {
  return (TEAM_ROLES as readonly string[]).includes(role);
}

export function roleGrants(role: string, permission: TeamPermission): boolean {
  return (
    (ROLE_PERMISSIONS as Record<string, ReadonlySet<TeamPermission> | undefined>)[role]?.has(permission) ??
    false
  );
}

/** The team roles that grant `permission` (e.g. the roles whose members decide approvals). */
export function rolesGranting(permission: TeamPermission): TeamRole[] {
  return TEAM_ROLES.filter((r) => ROLE_PERMISSIONS[r].has(permission));
}
