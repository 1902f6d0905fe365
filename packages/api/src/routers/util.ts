import type { Actor } from "@lifeboat/domain";
import { AppError, inTeamScope } from "@lifeboat/domain";

/** The signed-in caller of a non-public procedure (the guard has already checked the permission). */
export function requireActor(ctx: { actor: Actor | null }): Actor {
  if (!ctx.actor) throw new AppError("UNAUTHORIZED", "Sign in to continue.");
  return ctx.actor;
}

/** Refuses a team-targeted call unless the caller holds the procedure's permission in `teamId`. */
export function requireTeamScope(actor: Actor, teamId: string): void {
  if (!inTeamScope(actor, teamId))
    throw new AppError("FORBIDDEN", "Your role in that team does not allow this (or you are not a member).");
}

/** Keyset pagination: at most `limit` rows plus whether more follow (fetch `limit + 1`, pass the rows here). */
export function page<T>(rows: T[], limit: number): { items: T[]; hasMore: boolean } {
  return { items: rows.slice(0, limit), hasMore: rows.length > limit };
}
