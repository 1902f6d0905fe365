import type { Db } from "@lifeboat/db";
import { z } from "zod";
import type { Actor, ServiceContext } from "./context";
import { AppError } from "./errors";
import { page } from "./pages";
import { TEAM_ROLES } from "./permissions";
import { grantedBy, roleGrantorInclude, roleGrantView, toRoleGrantView } from "./role-grants";

export const userView = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string(),
  siteAdmin: z.boolean(),
  disabled: z.boolean(),
  mustChangePassword: z.boolean(),
  /** Signs in with a password (else only through OIDC). */
  hasPassword: z.boolean(),
  /** Linked to the OIDC provider. */
  hasOidc: z.boolean(),
  createdAt: z.date(),
  /** Who set the account's site role last (made it a site administrator or took that away), and when. */
  roleGrant: roleGrantView,
  /** Each team role with who gave it. */
  teams: z.array(
    z.object({ id: z.string(), name: z.string(), role: z.enum(TEAM_ROLES) }).extend(roleGrantView.shape),
  ),
});
export type UserView = z.infer<typeof userView>;

export const userInclude = {
  ...roleGrantorInclude,
  accounts: { select: { providerId: true } },
  memberships: {
    include: { team: { select: { id: true, name: true } }, ...roleGrantorInclude },
    orderBy: { team: { name: "asc" } },
  },
} as const;

export function toUserView(u: {
  id: string;
  name: string;
  email: string;
  role: string | null;
  banned: boolean | null;
  mustChangePassword: boolean;
  createdAt: Date;
  roleGrantedAt: Date | null;
  roleGrantedBy: { id: string; name: string; email: string } | null;
  accounts: Array<{ providerId: string }>;
  memberships: Array<{
    role: string;
    team: { id: string; name: string };
    roleGrantedAt: Date | null;
    roleGrantedBy: { id: string; name: string; email: string } | null;
  }>;
}): UserView {
  return {
    id: u.id,
    name: u.name,
    email: u.email,
    siteAdmin: u.role === "admin",
    disabled: u.banned === true,
    mustChangePassword: u.mustChangePassword,
    hasPassword: u.accounts.some((a) => a.providerId === "credential"),
    hasOidc: u.accounts.some((a) => a.providerId !== "credential"),
    createdAt: u.createdAt,
    roleGrant: toRoleGrantView(u),
    teams: u.memberships.map((m) => ({
      id: m.team.id,
      name: m.team.name,
      role: z.enum(TEAM_ROLES).parse(m.role),
      ...toRoleGrantView(m),
    })),
  };
}

// ---------------------------------------------------------------- accounts (site administrators)

/**
 * What only the sign-in library does to accounts (it owns password hashing); the adapter passes it in.
 */
export interface AccountAuth {
  /** Creates the account, without a password; answers its id. */
  createUser(account: { email: string; name: string; role: "admin" | "user" }): Promise<string>;
  /** Gives the account a new generated password (its credential, created when missing); answers it. */
  setTemporaryPassword(userId: string): Promise<string>;
}

export const userListQuery = z.object({
  /** Matches name or e-mail. */
  search: z.string().trim().max(200).optional(),
  /** The e-mail of the last row of the previous page. */
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export type UserListQuery = z.infer<typeof userListQuery>;
export const userListView = z.object({ items: z.array(userView), hasMore: z.boolean() });
export type UserListView = z.infer<typeof userListView>;

/** Every account, by e-mail (site administrators). */
export async function listUsers(db: Db, _actor: Actor, input: UserListQuery): Promise<UserListView> {
  const rows = await db.user.findMany({
    where: {
      ...(input.search
        ? {
            OR: [
              { email: { contains: input.search, mode: "insensitive" } },
              { name: { contains: input.search, mode: "insensitive" } },
            ],
          }
        : {}),
      ...(input.cursor ? { email: { gt: input.cursor } } : {}),
    },
    include: userInclude,
    orderBy: { email: "asc" },
    take: input.limit + 1,
  });
  const { items, hasMore } = page(rows, input.limit);
  return { items: items.map(toUserView), hasMore };
}

export const userCreateRequest = z.object({
  email: z.string().trim().toLowerCase().pipe(z.email()),
  name: z.string().trim().min(1).max(200),
  siteAdmin: z.boolean().default(false),
  /** "temporary": a generated password to hand over, changed at first sign-in; "none": OIDC sign-in only. */
  password: z.enum(["temporary", "none"]).default("temporary"),
});
export type UserCreateRequest = z.infer<typeof userCreateRequest>;
export const userCreated = z.object({
  user: userView,
  /** Shown once; Lifeboat keeps only its hash. */
  temporaryPassword: z.string().nullable(),
});
export type UserCreated = z.infer<typeof userCreated>;

/** Creates an account. With a temporary password, the first sign-in must choose a new one. */
export async function createUserAccount(
  ctx: ServiceContext,
  actor: Actor,
  input: UserCreateRequest,
  auth: AccountAuth,
): Promise<UserCreated> {
  if (await ctx.db.user.findUnique({ where: { email: input.email } }))
    throw new AppError("CONFLICT", `An account with the e-mail ${input.email} already exists.`);
  const id = await auth.createUser({
    email: input.email,
    name: input.name,
    role: input.siteAdmin ? "admin" : "user",
  });
  let password: string | null = null;
  if (input.password === "temporary") password = await auth.setTemporaryPassword(id);
  await ctx.db.user.update({
    where: { id },
    data: { ...grantedBy(actor), ...(password !== null ? { mustChangePassword: true } : {}) },
  });
  ctx.audit.targetType = "user";
  ctx.audit.targetId = id;
  ctx.audit.details = {
    email: input.email,
    name: input.name,
    siteAdmin: input.siteAdmin,
    password: input.password,
  };
  const user = await ctx.db.user.findUniqueOrThrow({ where: { id }, include: userInclude });
  return { user: toUserView(user), temporaryPassword: password };
}

export const userUpdateRequest = z.object({
  userId: z.string().min(1),
  name: z.string().trim().min(1).max(200).optional(),
  siteAdmin: z.boolean().optional(),
  /** A disabled account cannot sign in; its sessions end now. */
  disabled: z.boolean().optional(),
});
export type UserUpdateRequest = z.infer<typeof userUpdateRequest>;

/** Renames an account, grants or takes back site administration, disables or enables it. */
export async function updateUserAccount(
  ctx: ServiceContext,
  actor: Actor,
  input: UserUpdateRequest,
): Promise<UserView> {
  ctx.audit.targetType = "user";
  ctx.audit.targetId = input.userId;
  const user = await ctx.db.user.findUnique({ where: { id: input.userId } });
  if (!user) throw new AppError("NOT_FOUND", "No such account.");
  if (input.userId === actor.userId && (input.siteAdmin === false || input.disabled === true))
    throw new AppError("BAD_REQUEST", "You cannot take away your own administration or disable yourself.");
  const changes: Record<string, unknown> = {};
  if (input.name !== undefined && input.name !== user.name)
    changes.name = { from: user.name, to: input.name };
  if (input.siteAdmin !== undefined && input.siteAdmin !== (user.role === "admin"))
    changes.siteAdmin = input.siteAdmin;
  if (input.disabled !== undefined && input.disabled !== (user.banned === true))
    changes.disabled = input.disabled;
  ctx.audit.details = { email: user.email, changes };
  await ctx.db.$transaction(async (tx) => {
    await tx.user.update({
      where: { id: user.id },
      data: {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...("siteAdmin" in changes ? { role: input.siteAdmin ? "admin" : "user", ...grantedBy(actor) } : {}),
        ...(input.disabled !== undefined
          ? { banned: input.disabled, banReason: input.disabled ? `disabled by ${actor.email}` : null }
          : {}),
      },
    });
    if (input.disabled === true) await tx.session.deleteMany({ where: { userId: user.id } });
  });
  return toUserView(await ctx.db.user.findUniqueOrThrow({ where: { id: user.id }, include: userInclude }));
}

export const userPasswordResetRequest = z.object({ userId: z.string().min(1) });
export type UserPasswordResetRequest = z.infer<typeof userPasswordResetRequest>;
export const userPasswordReset = z.object({ temporaryPassword: z.string() });

/**
 * Gives an account a new temporary password (shown once): its sessions end and the next sign-in must choose a
 * new password.
 */
export async function resetUserPassword(
  ctx: ServiceContext,
  _actor: Actor,
  input: UserPasswordResetRequest,
  auth: Pick<AccountAuth, "setTemporaryPassword">,
): Promise<{ temporaryPassword: string }> {
  ctx.audit.targetType = "user";
  ctx.audit.targetId = input.userId;
  const user = await ctx.db.user.findUnique({ where: { id: input.userId } });
  if (!user) throw new AppError("NOT_FOUND", "No such account.");
  ctx.audit.details = { email: user.email };
  const password = await auth.setTemporaryPassword(user.id);
  await ctx.db.$transaction([
    ctx.db.user.update({ where: { id: user.id }, data: { mustChangePassword: true } }),
    ctx.db.session.deleteMany({ where: { userId: user.id } }),
  ]);
  return { temporaryPassword: password };
}

export const meView = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string(),
  siteAdmin: z.boolean(),
  mustChangePassword: z.boolean(),
  teams: z.array(z.object({ id: z.string(), name: z.string(), role: z.enum(TEAM_ROLES) })),
});
export type MeView = z.infer<typeof meView>;

/** The caller's own account and team roles (drives the navigation). */
export async function myAccount(db: Db, actor: Actor): Promise<MeView> {
  const user = await db.user.findUniqueOrThrow({
    where: { id: actor.userId },
    include: { memberships: { include: { team: true }, orderBy: { team: { name: "asc" } } } },
  });
  return {
    id: user.id,
    name: user.name,
    email: user.email,
    siteAdmin: actor.siteAdmin,
    mustChangePassword: user.mustChangePassword,
    teams: user.memberships.map((m) => ({
      id: m.team.id,
      name: m.team.name,
      role: z.enum(TEAM_ROLES).parse(m.role),
    })),
  };
}
