import { TEAM_ROLES, type TeamRole } from "@lifeboat/domain";
import { createAccessControl } from "better-auth/plugins/access";

/**
 * better-auth's organization plugin (an organization is a Lifeboat team) validates membership roles against
 * these. Authorization itself is decided by Lifeboat's permission middleware (permissions.ts); the statements
 * here only cover the plugin's own member-management endpoints.
 */
export const teamAccessControl = createAccessControl({
  organization: ["update", "delete"],
  member: ["create", "update", "delete"],
  invitation: ["create", "cancel"],
} as const);

const manage = teamAccessControl.newRole({
  organization: ["update"],
  member: ["create", "update", "delete"],
  invitation: ["create", "cancel"],
});
const none = teamAccessControl.newRole({ organization: [], member: [], invitation: [] });

export const teamRoles: Record<TeamRole, typeof none | typeof manage> = {
  viewer: none,
  operator: none,
  approver: none,
  admin: manage,
};

export { TEAM_ROLES };
