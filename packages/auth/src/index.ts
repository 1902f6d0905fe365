/**
 * Sign-in for every process that creates or checks accounts: better-auth with Lifeboat's password hashing,
 * throttling and audit, the team roles it enforces, the client address it records and the origins it trusts.
 * Beneath the tRPC adapter, so the CLI (first admin, password resets) needs no tRPC.
 */
export { firstAdminAccount, setCredentialPassword, temporaryPassword } from "./accounts";
export {
  type Auth,
  type AuthOptions,
  createAuth,
  getAuth,
  OIDC_PROVIDER_ID,
  type OidcOptions,
  oidcFromEnv,
} from "./auth";
export {
  CLIENT_IP_HEADER,
  clientIp,
  parseTrustedProxies,
  resolveClientIp,
  type TrustedProxies,
} from "./client-ip";
export { publicUrl, trustedOrigins } from "./origins";
export { MIN_PASSWORD_SCORE, passwordWeakness } from "./password-strength";
export { teamAccessControl, teamRoles } from "./roles";
