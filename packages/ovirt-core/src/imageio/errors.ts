/**
 * A failure talking to an imageio daemon or proxy. The message carries the server's own text (imageio answers
 * errors as one text/plain line, ref §5.8) and never the ticket URL, which is the transfer's only credential.
 */
export class ImageioError extends Error {
  /** HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** The server's text (first line), if any. */
  readonly serverText?: string;
  /** Worth repeating on a fresh connection (5xx, broken connection, truncated body). */
  readonly retryable: boolean;

  constructor(init: {
    status: number;
    message: string;
    serverText?: string;
    retryable?: boolean;
    cause?: unknown;
  }) {
    super(`imageio: ${init.message}`, { cause: init.cause });
    this.name = "ImageioError";
    this.status = init.status;
    this.serverText = init.serverText;
    this.retryable = init.retryable ?? false;
  }
}

const RETRYABLE_STATUS = new Set([500, 502, 503, 504]);

/** The error for an HTTP error answer: `imageio: 403 Transfer=… expired (GET bytes 0-4095)`. */
export function httpError(status: number, serverText: string | undefined, what: string): ImageioError {
  const hint =
    status === 403 && !serverText
      ? "ticket expired, canceled or unknown"
      : status === 416
        ? "range not satisfiable"
        : "";
  const words = serverText || hint || "no message";
  return new ImageioError({
    status,
    serverText,
    message: `${status} ${words} (${what})`,
    retryable: RETRYABLE_STATUS.has(status),
  });
}
