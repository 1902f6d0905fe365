import net from "node:net";

/**
 * The client's address as the web server's edge computed it (see `edge.ts`). The edge overwrites whatever a
 * caller sent under this name, so everything behind it — sign-in rate limits, account lockout, audit rows —
 * reads this one header and never a forwarding header itself.
 */
export const CLIENT_IP_HEADER = "x-lifeboat-client-ip";

/** Proxies whose X-Forwarded-For is believed (`LIFEBOAT_TRUSTED_PROXIES`). */
export type TrustedProxies = net.BlockList;

/** `::ffff:192.0.2.1` (an IPv4 peer on a dual-stack socket) → `192.0.2.1`. */
function normalize(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  return v4 ?? ip.toLowerCase();
}

/** Entries were validated by the env schema (IPs and CIDR blocks). */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new net.BlockList();
  for (const entry of entries) {
    const [ip = "", bits] = entry.split("/");
    const type = net.isIPv6(ip) ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(normalize(ip), type);
    else list.addSubnet(normalize(ip), Number(bits), type);
  }
  return list;
}

function isTrusted(ip: string, trusted: TrustedProxies): boolean {
  const family = net.isIP(ip);
  return family !== 0 && trusted.check(ip, family === 6 ? "ipv6" : "ipv4");
}

/**
 * The one computation of a client address. The TCP peer is the client unless it is a trusted proxy; then the
 * X-Forwarded-For hops are read from the right (each proxy appends the address it saw) and the first hop that
 * is not a trusted proxy is the client. Hops left of it were written by the client and prove nothing.
 */
export function resolveClientIp(
  peer: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: TrustedProxies,
): string | null {
  if (!peer) return null;
  let client = normalize(peer);
  if (!isTrusted(client, trusted)) return client;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : (forwardedFor ?? ""))
    .split(",")
    .map((h) => normalize(h.trim()))
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    // Garbage from a trusted proxy's left: the best known address is the proxy that passed it on.
    if (net.isIP(hop) === 0) return client;
    client = hop;
    if (!isTrusted(hop, trusted)) return hop;
  }
  return client;
}

/** The client address the edge stamped on this request, or null (a server-side call, no HTTP request). */
export function clientIp(headers: Headers): string | null {
  const ip = headers.get(CLIENT_IP_HEADER)?.trim();
  return ip && net.isIP(ip) !== 0 ? ip : null;
}
