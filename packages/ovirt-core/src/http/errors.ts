/** Error codes meaning "no server answered at this address": the only ones that justify trying another URL. */
const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Error codes of a connection that broke or stalled after it was established. */
const BROKEN_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
]);

/** The error codes of an error and of its causes (undici wraps socket errors). */
export function errorCodes(e: unknown): string[] {
  const codes: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 5; depth++) {
    if (typeof cur === "object" && cur !== null) {
      const code = (cur as { code?: unknown }).code;
      if (typeof code === "string") codes.push(code);
      cur = (cur as { cause?: unknown }).cause;
    } else break;
  }
  return codes;
}

/** True when the server could not be reached at all (refused, unreachable, DNS, connect timeout). */
export function isConnectError(e: unknown): boolean {
  return errorCodes(e).some((c) => CONNECT_CODES.has(c));
}

/** True when a connection failed in a way a retry on a fresh connection may fix. */
export function isTransientNetworkError(e: unknown): boolean {
  return errorCodes(e).some((c) => CONNECT_CODES.has(c) || BROKEN_CODES.has(c));
}

/** A short description of a network error: its message plus the innermost cause's code. */
export function describeNetworkError(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const codes = errorCodes(e);
  const code = codes[codes.length - 1];
  return code && !message.includes(code) ? `${message} (${code})` : message;
}
