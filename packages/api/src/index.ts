// The tRPC adapter over @lifeboat/domain: the router, its context, sign-in, and the HTTP responders of the
// routes that are not tRPC. Domain operations are imported from @lifeboat/domain, never through here.
export { type Auth, createAuth, getAuth, OIDC_PROVIDER_ID, type OidcOptions, oidcFromEnv } from "./auth/auth";
export { type Context, createContext } from "./context";
export { appErrorHttpStatus, appErrorOf, toTRPCError } from "./errors";
export { auditCsvStream } from "./routers/audit/csv";
export { type AuditFilters, auditFilters } from "./routers/audit/list";
export { type DiskImageRequest, diskImageResponse } from "./routers/restore-points/image-download";
export { type AppRouter, appRouter } from "./routers/root";
export { createCallerFactory } from "./trpc";
