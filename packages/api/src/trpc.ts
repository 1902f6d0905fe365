import { randomUUID } from "node:crypto";
import type { Actor, AuditEntry, AuditNote, AuditOutcome } from "@lifeboat/domain";
import {
  actorFor,
  isSitePermission,
  isTeamPermission,
  malformedInput,
  type Permission,
  recordAudit,
  recordDenial,
} from "@lifeboat/domain";
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import type { Context } from "./context";
import { appErrorOf, toTRPCError } from "./errors";

export interface Meta {
  /** Required on every procedure: the guard denies a procedure that declares none. */
  permission: Permission;
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    transformer: superjson,
    // Never send stack traces to the browser.
    isDev: false,
    sse: { ping: { enabled: true, intervalMs: 15_000 }, client: { reconnectAfterInactivityMs: 30_000 } },
    errorFormatter({ shape, error }) {
      const app = appErrorOf(error);
      const internal = error.code === "INTERNAL_SERVER_ERROR" && !app;
      if (internal) {
        const ref = randomUUID().slice(0, 8);
        console.error(`[api] internal error ref=${ref}`, error.cause ?? error);
        return {
          ...shape,
          message: `Something went wrong inside Lifeboat (ref ${ref}). The server log has the details.`,
          data: { ...shape.data, stack: undefined, appCode: "INTERNAL", details: undefined },
        };
      }
      return {
        ...shape,
        data: { ...shape.data, stack: undefined, appCode: app?.code ?? error.code, details: app?.details },
      };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const mergeRouters = t.mergeRouters;

function deny(message: string): never {
  throw new TRPCError({ code: "FORBIDDEN", message });
}

async function resolveActor(ctx: Context, permission: Permission, path: string): Promise<Actor | null> {
  if (permission === "public") return null;
  const user = ctx.session?.user;
  if (!user) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in to continue." });
  const u = user as typeof user & {
    role?: string | null;
    banned?: boolean | null;
    mustChangePassword?: boolean;
  };
  if (u.banned) deny("This account is disabled.");
  const siteAdmin = u.role === "admin";
  const person = { userId: u.id, name: u.name, email: u.email, siteAdmin };
  if (u.mustChangePassword && permission !== "authenticated")
    deny("Choose a new password before using Lifeboat (Account → Change password).");
  if (permission === "authenticated") return { ...person, teamIds: [] };
  if (isSitePermission(permission)) {
    if (!siteAdmin) deny(`Only site administrators may do this (${path}).`);
    return { ...person, teamIds: [] };
  }
  if (isTeamPermission(permission)) {
    const actor = await actorFor(ctx.db, person, permission);
    if (!siteAdmin && actor.teamIds.length === 0)
      deny(`None of your team roles allows this ("${permission}"). Ask your team admin if you need it.`);
    return actor;
  }
  return deny(`Unknown permission "${permission}" on ${path}.`);
}

/**
 * The one permission guard. It wraps every procedure: checks the declared permission (deny by default),
 * resolves the caller's team scope, refuses malformed text and dates anywhere in the input (`malformedInput`:
 * 400), turns AppErrors into tRPC errors and writes an audit row for every mutation, allowed or not.
 */
const guard = t.middleware(async ({ ctx, meta, next, path, type, getRawInput }) => {
  // One note per call: a batched HTTP request shares its context between procedures.
  const audit: AuditNote = {};
  let actor: Actor | null = null;
  try {
    if (!meta?.permission) deny(`The procedure ${path} declares no permission; refusing by default.`);
    actor = await resolveActor(ctx, meta.permission, path);
  } catch (e) {
    // Team admins see denied attempts on their team: the writer keeps the input's (unvalidated) team only
    // when the caller belongs to it, and rate-limits calls without a session.
    if (type === "mutation")
      await recordDenial(
        ctx.db,
        auditEntry(ctx, audit, path, null, "denied", e),
        await rawTeamId(getRawInput),
      );
    throw e;
  }
  // Before any schema: a NUL, a lone surrogate or a date past year 9999 would otherwise reach PostgreSQL.
  const malformed = malformedInput(await getRawInput().catch(() => undefined));
  if (malformed) {
    const e = new TRPCError({ code: "BAD_REQUEST", message: malformed });
    if (type === "mutation") await auditMutation(ctx, audit, path, actor, "failure", e);
    throw e;
  }
  const result = await next({ ctx: { ...ctx, actor, audit } });
  if (type === "mutation")
    await auditMutation(
      ctx,
      audit,
      path,
      actor,
      result.ok ? "success" : "failure",
      result.ok ? undefined : result.error,
    );
  if (!result.ok) {
    const app = appErrorOf(result.error.cause);
    if (app) throw toTRPCError(app);
  }
  return result;
});

async function rawTeamId(getRawInput: () => Promise<unknown>): Promise<string | undefined> {
  const raw = await getRawInput().catch(() => undefined);
  const teamId = raw && typeof raw === "object" ? (raw as { teamId?: unknown }).teamId : undefined;
  return typeof teamId === "string" && teamId.length <= 100 ? teamId : undefined;
}

function auditEntry(
  ctx: Context,
  note: AuditNote,
  path: string,
  actor: Actor | null,
  outcome: AuditOutcome,
  error?: unknown,
): AuditEntry {
  const user = ctx.session?.user;
  const cause = error instanceof TRPCError ? (error.cause ?? error) : error;
  return {
    action: note.action ?? path,
    outcome,
    actorId: actor?.userId ?? user?.id ?? null,
    actorName: actor?.name ?? user?.name ?? null,
    actorEmail: actor?.email ?? user?.email ?? null,
    teamId: note.teamId ?? null,
    targetType: note.targetType ?? null,
    targetId: note.targetId ?? null,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    details: {
      ...note.details,
      ...(error ? { error: cause instanceof Error ? cause.message : String(cause) } : {}),
    },
  };
}

async function auditMutation(
  ctx: Context,
  note: AuditNote,
  path: string,
  actor: Actor | null,
  outcome: AuditOutcome,
  error?: unknown,
): Promise<void> {
  await recordAudit(ctx.db, auditEntry(ctx, note, path, actor, outcome, error));
}

/** The only procedure builder. Declare `.meta({ permission })` on every procedure. */
export const procedure = t.procedure.use(guard);

export type GuardedContext = Context & { actor: Actor | null };
