/** The HTTP edge of the adapter: the route handlers the web app mounts, and what they share with the edge. */
export { handleAuthRequest } from "./auth";
export {
  CLIENT_IP_HEADER,
  clientIp,
  parseTrustedProxies,
  resolveClientIp,
  type TrustedProxies,
} from "./client-ip";
export { MAX_TRPC_BATCH } from "./limits";
export { publicUrl, trustedOrigins } from "./origins";
export { handleTrpcRequest, type TrpcHttpOptions } from "./trpc";
