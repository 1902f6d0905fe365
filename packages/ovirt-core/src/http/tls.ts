import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import { Agent, type Client } from "undici";

/**
 * How a client verifies the server's certificate. The engine CA (PEM) is trusted in addition to the system
 * store, because an admin may have replaced the engine's web certificate with a commercial one while the hosts'
 * imageio daemons still present certificates of the engine CA (ref §2.5). `insecure` is the only way to skip it.
 */
export interface TlsOptions {
  /** PEM text of the CA(s) to trust in addition to the system store. */
  caPem?: string | Buffer;
  /** Skip certificate verification (labs only). */
  insecure?: boolean;
}

export type ConnectOptions = NonNullable<Client.Options["connect"]>;

/** undici `connect` options for the given TLS policy. */
export function tlsConnectOptions(tls: TlsOptions = {}, connectTimeoutMs?: number): ConnectOptions {
  const timeout = connectTimeoutMs;
  if (tls.insecure) return { rejectUnauthorized: false, timeout };
  if (tls.caPem === undefined) return { rejectUnauthorized: true, timeout };
  const pem = typeof tls.caPem === "string" ? tls.caPem : tls.caPem.toString("utf8");
  return { secureContext: secureContextFor(pem), rejectUnauthorized: true, timeout };
}

/**
 * Building a context from the system roots plus a CA parses ~150 certificates: done once per CA, not once per
 * connection (imageio opens one connection per worker).
 */
const contexts = new Map<string, SecureContext>();
function secureContextFor(pem: string): SecureContext {
  let ctx = contexts.get(pem);
  if (!ctx) {
    if (!pem.includes("-----BEGIN CERTIFICATE-----"))
      throw new Error("the CA file holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)");
    ctx = createSecureContext({ ca: [...rootCertificates, pem] });
    if (contexts.size > 16) contexts.clear();
    contexts.set(pem, ctx);
  }
  return ctx;
}

/** A keep-alive connection pool for request/response APIs (the engine). */
export function createAgent(
  tls: TlsOptions = {},
  opts: { connectTimeoutMs?: number; requestTimeoutMs?: number; connections?: number } = {},
): Agent {
  return new Agent({
    connect: tlsConnectOptions(tls, opts.connectTimeoutMs ?? 30_000),
    headersTimeout: opts.requestTimeoutMs ?? 300_000,
    bodyTimeout: opts.requestTimeoutMs ?? 300_000,
    connections: opts.connections ?? 8,
  });
}
