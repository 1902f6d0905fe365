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

/**
 * Creates the first site administrator when the catalog has none. A generated password was printed to a console
 * or a log, so it is temporary: the first sign-in must choose a new one (`mustChangePassword`), as for accounts
 * an administrator creates. A password the operator chose (`LIFEBOAT_ADMIN_PASSWORD`) is theirs to keep.
 */
export async function ensureFirstAdmin(
  db: Db,
  createAccount: CreateAccount,
  opts: { email: string; password?: string; name?: string },
): Promise<FirstAdmin> {
  const existing = await db.user.findFirst({ where: { role: "admin" }, orderBy: { createdAt: "asc" } });
  if (existing) return { created: false, email: existing.email };
  const generated = !opts.password;
  const password = opts.password || randomBytes(12).toString("base64url");
  await createAccount({ email: opts.email, password, name: opts.name ?? "Lifeboat admin", role: "admin" });
  if (generated)
    await db.user.update({ where: { email: opts.email.toLowerCase() }, data: { mustChangePassword: true } });
  return { created: true, email: opts.email, generatedPassword: generated ? password : undefined };
}
