import { randomBytes } from "node:crypto";
import type { Db } from "@lifeboat/db";
import type { Auth } from "../auth/auth";

export interface FirstAdmin {
  created: boolean;
  email: string;
  /** Only when this call created the account with a generated password (print it once, keep it nowhere). */
  generatedPassword?: string;
}

/** Creates the first site administrator when the catalog has none. */
export async function ensureFirstAdmin(
  auth: Auth,
  db: Db,
  opts: { email: string; password?: string; name?: string },
): Promise<FirstAdmin> {
  const existing = await db.user.findFirst({ where: { role: "admin" }, orderBy: { createdAt: "asc" } });
  if (existing) return { created: false, email: existing.email };
  const password = opts.password ?? randomBytes(12).toString("base64url");
  await auth.api.createUser({
    body: { email: opts.email, password, name: opts.name ?? "Lifeboat admin", role: "admin" },
  });
  return { created: true, email: opts.email, generatedPassword: opts.password ? undefined : password };
}
