import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { CLIENT_IP_HEADER, resolveClientIp, type TrustedProxies } from "@lifeboat/auth/http";

// The web server (apps/web/server.ts) needs these beside the listener, without the route handlers.
export { parseTrustedProxies, publicUrl } from "@lifeboat/auth/http";

export interface EdgeOptions {
  trustedProxies: TrustedProxies;
  /** Largest request body accepted (`LIFEBOAT_MAX_BODY_BYTES`). */
  maxBodyBytes: number;
  /** The URL users open: HSTS is sent when it is https. */
  publicUrl: string;
  /** `next dev` needs eval and a websocket for hot reload. */
  dev?: boolean;
}

/**
 * Headers on every response. Next's pages carry inline bootstrap scripts and styles, hence 'unsafe-inline' for
 * those; everything else (fetch, images, fonts, frames, forms) is limited to this origin, and no page may be
 * framed (clickjacking).
 */
export function securityHeaders(opts: Pick<EdgeOptions, "publicUrl" | "dev">): Record<string, string> {
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'unsafe-inline'${opts.dev ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self'${opts.dev ? " ws: wss:" : ""}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
  return {
    "content-security-policy": csp,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    ...(opts.publicUrl.startsWith("https://")
      ? { "strict-transport-security": "max-age=31536000; includeSubDomains" }
      : {}),
  };
}

function refuse(res: ServerResponse, status: number, message: string): void {
  // `connection: close`: Node would otherwise read (and discard) the whole body to reuse the connection.
  res.writeHead(status, { "content-type": "application/json", connection: "close" });
  res.end(JSON.stringify({ message }));
}

/**
 * The web server's edge, in front of Next (apps/web/server.ts): security headers on every response, the client
 * address computed once from the TCP peer and the trusted proxies (and stamped where everything behind reads
 * it), and request bodies refused by their declared size before a byte is read. No route takes uploads, so a
 * body without a declared length (chunked) is refused as well.
 */
export function createEdgeListener(
  handle: (req: IncomingMessage, res: ServerResponse) => unknown,
  opts: EdgeOptions,
): RequestListener {
  const headers = Object.entries(securityHeaders(opts));
  return (req, res) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    const ip = resolveClientIp(req.socket.remoteAddress, req.headers["x-forwarded-for"], opts.trustedProxies);
    if (ip) req.headers[CLIENT_IP_HEADER] = ip;
    else delete req.headers[CLIENT_IP_HEADER];
    const length = req.headers["content-length"];
    if (length === undefined && req.headers["transfer-encoding"])
      return refuse(res, 411, "Send the request body with a Content-Length.");
    if (length !== undefined && !(Number(length) <= opts.maxBodyBytes))
      return refuse(res, 413, `Request bodies are limited to ${opts.maxBodyBytes} bytes.`);
    return handle(req, res);
  };
}
