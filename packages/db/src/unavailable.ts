/**
 * Whether an error means the catalog database is out of reach for now (down, restarting, refusing or dropping
 * connections) rather than that the query was wrong: the words an operator should read, or undefined. Knows the
 * shapes Prisma's pg adapter, pg itself (pg-boss) and Node's sockets give such failures.
 */
export function databaseUnavailable(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && typeof cur === "object" && depth < 6; depth++) {
    const words = describe(cur as Record<string, unknown>);
    if (words) return words;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

// Prisma's own codes for "cannot reach", "timed out", "server closed the connection", "pool timeout".
const PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024"]);
// The pg adapter's kinds for the same.
const ADAPTER_KINDS = new Set([
  "DatabaseNotReachable",
  "ConnectionClosed",
  "SocketTimeout",
  "TooManyConnections",
]);
// PostgreSQL: admin/crash shutdown, cannot connect now, too many connections; class 08 is connection exceptions.
const PG_CODES = new Set(["57P01", "57P02", "57P03", "53300"]);
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
]);

function describe(o: Record<string, unknown>): string | undefined {
  const meta = o.meta as { driverAdapterError?: { cause?: Record<string, unknown> } } | undefined;
  const cause = meta?.driverAdapterError?.cause;
  if (cause) {
    const kind = String(cause.kind ?? "");
    if (ADAPTER_KINDS.has(kind)) {
      const at = cause.host ? ` at ${cause.host}${cause.port ? `:${cause.port}` : ""}` : "";
      return `the catalog database${at} could not be reached (${kind})`;
    }
    const code = String(cause.code ?? cause.originalCode ?? "");
    if (kind === "postgres" && (PG_CODES.has(code) || code.startsWith("08")))
      return `the catalog database dropped the connection (${String(cause.message ?? code)})`;
  }
  const code = typeof o.code === "string" ? o.code : "";
  if (PRISMA_CODES.has(code)) return `the catalog database could not be reached (${lastLine(o.message)})`;
  if (o.name === "PrismaClientInitializationError")
    return `the catalog database could not be reached (${lastLine(o.message)})`;
  if (PG_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))
    return `the catalog database dropped the connection (${lastLine(o.message)})`;
  if (SOCKET_CODES.has(code)) return `the catalog database could not be reached (${code})`;
  if (
    typeof o.message === "string" &&
    /^Connection terminated( unexpectedly| due to connection timeout)?$/.test(o.message)
  )
    return `the catalog database dropped the connection (${o.message})`;
  return undefined;
}

function lastLine(message: unknown): string {
  const lines = String(message ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines[lines.length - 1] ?? "no detail").slice(0, 300);
}
