import { randomBytes } from "node:crypto";
import type { CreateAccount } from "@lifeboat/domain";
import { APIError } from "better-auth/api";
import type { Auth } from "./auth";

/**
 * A temporary password for an admin-created or reset account: 16 characters from a 64-symbol alphabet (96
 * bits). The account must choose its own at the next sign-in (`mustChangePassword`).
 */
export function temporaryPassword(): string {
  return randomBytes(12).toString("base64url");
}

/** Hashes with the auth instance's own hasher (argon2id) and sets the credential password of `userId`. */
export async function setCredentialPassword(auth: Auth, userId: string, password: string): Promise<void> {
  const ctx = await auth.$context;
  const hash = await ctx.password.hash(password);
  if (await ctx.internalAdapter.findCredentialAccount(userId))
    await ctx.internalAdapter.updatePassword(userId, hash);
  else
    await ctx.internalAdapter.createAccount({
      userId,
      providerId: "credential",
      accountId: userId,
      password: hash,
    });
}

/**
 * How `lifeboat start` and `lifeboat admin bootstrap` create the first admin (`ensureFirstAdmin`): a password
 * from LIFEBOAT_ADMIN_PASSWORD that the estimator refuses is named as such.
 */
export function firstAdminAccount(auth: Auth): CreateAccount {
  return async (account) => {
    try {
      return await auth.api.createUser({ body: account });
    } catch (e) {
      if (e instanceof APIError && e.body?.code === "PASSWORD_TOO_WEAK")
        throw new Error(`LIFEBOAT_ADMIN_PASSWORD is too weak: ${e.message}`);
      throw e;
    }
  };
}
