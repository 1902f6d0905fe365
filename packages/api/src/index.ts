// The tRPC adapter over @lifeboat/domain: the router, its context, sign-in and the mapping of AppError codes to
// tRPC and HTTP. The HTTP responders of the routes that are not tRPC live with their routes in apps/web; domain
// operations are imported from @lifeboat/domain, never through here.
export {
  type Auth,
  createAuth,
  getAuth,
  OIDC_PROVIDER_ID,
  type OidcOptions,
  oidcFromEnv,
} from "@lifeboat/auth";
export { type Context, createContext } from "./context";
export { appErrorHttpStatus, appErrorOf, toTRPCError } from "./errors";
export { type AppRouter, appRouter } from "./routers/root";
export { createCallerFactory } from "./trpc";
