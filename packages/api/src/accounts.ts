import { type Auth, setCredentialPassword, temporaryPassword } from "@lifeboat/auth";
import type { AccountAuth } from "@lifeboat/domain";

/** The sign-in library's part of the account operations (it owns password hashing). */
export function accountAuth(auth: Auth): AccountAuth {
  return {
    async createUser(account) {
      const created = await auth.api.createUser({
        body: {
          ...account,
          // The administrator vouches for the address (OIDC sign-ins link to it by e-mail).
          data: { emailVerified: true },
        },
      });
      return created.user.id;
    },
    async setTemporaryPassword(userId) {
      const password = temporaryPassword();
      await setCredentialPassword(auth, userId, password);
      return password;
    },
  };
}
