import { randomBytes } from "node:crypto";
import type { Db } from "@lifeboat/db";

export interface FirstAdmin {
  created: boolean;
  email: string;
  /** Only when this call created the account with a generated password (print it once, keep it nowhere). */
  generatedPassword?: string;
}

/** A new account with a password, created by the sign-in library (which owns password hashing). */
export type CreateAccount = (account: {
  email: string;
  password: string;
  name: string;
  role: "admin" | "user";
}) => Promise<unknown>;

/** Creates the first site administrator when the catalog has none. */
export async function ensureFirstAdmin(
  db: Db,
  createAccount: CreateAccount,
  opts: { email: string; password?: string; name?: string },
): Promise<FirstAdmin> {
  const existing = await db.user.findFirst({ where: { role: "admin" }, orderBy: { createdAt: "asc" } });
  if (existing) return { created: false, email: existing.email };
  const password = opts.password ?? randomBytes(12).toString("base64url");
  await createAccount({ email: opts.email, password, name: opts.name ?? "Lifeboat admin", role: "admin" });
  return { created: true, email: opts.email, generatedPassword: opts.password ? undefined : password };
}
