import { z } from "zod";

/**
 * Who gave a role (a team membership's, or a site administrator's), and when. Written every time a role is
 * given or changed, so that four eyes cannot be met by a second account the requester set up: a role counts
 * for deciding a request only when it was held before the request was filed and was not given by the
 * requester. Rows from before these facts were kept have none: granted long ago by nobody (they count).
 */
export interface RoleGrant {
  roleGrantedById: string | null;
  roleGrantedAt: Date | null;
}

/** The grant facts of a role `actor` gives now. */
export function grantedBy(actor: { userId: string }, at = new Date()) {
  return { roleGrantedById: actor.userId, roleGrantedAt: at };
}

/** Why a role does not count for deciding a request, or null when it does. */
export function grantRefusal(
  grant: RoleGrant,
  request: { requestedById: string; createdAt: Date },
): string | null {
  if (grant.roleGrantedById !== null && grant.roleGrantedById === request.requestedById)
    return "the requester gave you that role";
  if (grant.roleGrantedAt !== null && grant.roleGrantedAt >= request.createdAt)
    return "you were given that role after the request was filed";
  return null;
}

/** The grantor as views show it: null when unknown (a role from before grant facts were kept). */
export const roleGrantView = z.object({
  grantedBy: z.object({ id: z.string(), name: z.string(), email: z.string() }).nullable(),
  grantedAt: z.date().nullable(),
});
export type RoleGrantView = z.infer<typeof roleGrantView>;

/** Include this on a membership or user query to show its grantor. */
export const roleGrantorInclude = {
  roleGrantedBy: { select: { id: true, name: true, email: true } },
} as const;

export function toRoleGrantView(row: {
  roleGrantedAt: Date | null;
  roleGrantedBy: { id: string; name: string; email: string } | null;
}): RoleGrantView {
  return { grantedBy: row.roleGrantedBy, grantedAt: row.roleGrantedAt };
}
