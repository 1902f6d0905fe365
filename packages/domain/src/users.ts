import { z } from "zod";
import { TEAM_ROLES } from "./permissions";

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
  teams: z.array(z.object({ id: z.string(), name: z.string(), role: z.enum(TEAM_ROLES) })),
});
export type UserView = z.infer<typeof userView>;

export const userInclude = {
  accounts: { select: { providerId: true } },
  memberships: {
    include: { team: { select: { id: true, name: true } } },
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
  accounts: Array<{ providerId: string }>;
  memberships: Array<{ role: string; team: { id: string; name: string } }>;
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
    teams: u.memberships.map((m) => ({
      id: m.team.id,
      name: m.team.name,
      role: z.enum(TEAM_ROLES).parse(m.role),
    })),
  };
}
