/** What the HTTP edge needs without better-auth: the client address and the trusted origins. */
export {
  CLIENT_IP_HEADER,
  clientIp,
  parseTrustedProxies,
  resolveClientIp,
  type TrustedProxies,
} from "./client-ip";
export { publicUrl, trustedOrigins } from "./origins";
