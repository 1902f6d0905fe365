import type { Actor } from "../context";
import { AppError } from "../errors";
import type { GuardedContext } from "../trpc";

/** The signed-in caller of a non-public procedure (the guard has already checked the permission). */
export function requireActor(ctx: GuardedContext): Actor {
  if (!ctx.actor) throw new AppError("UNAUTHORIZED", "Sign in to continue.");
  return ctx.actor;
}
