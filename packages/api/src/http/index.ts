/** The HTTP edge of the adapter: the route handlers the web app mounts, and what they share with the edge. */

export {
  CLIENT_IP_HEADER,
  clientIp,
  parseTrustedProxies,
  publicUrl,
  resolveClientIp,
  type TrustedProxies,
  trustedOrigins,
} from "@lifeboat/auth";
export { handleAuthRequest } from "./auth";
export { MAX_TRPC_BATCH } from "./limits";
export { handleTrpcRequest, type TrpcHttpOptions } from "./trpc";
