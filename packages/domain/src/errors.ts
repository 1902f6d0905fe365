/**
 * The one error type the domain throws on purpose. `message` is for people: what went wrong and what to do next;
 * `code` says what kind of failure it is, and the API adapter alone maps codes to tRPC and HTTP statuses.
 * Anything else thrown is reported to the user as an internal error without its details.
 */
export const AppErrorCode = {
  BAD_REQUEST: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  PRECONDITION_FAILED: "PRECONDITION_FAILED",
  TOO_MANY_REQUESTS: "TOO_MANY_REQUESTS",
  /** The oVirt engine answered with a fault. */
  ENGINE_ERROR: "ENGINE_ERROR",
  /** The oVirt engine could not be reached (network, TLS). */
  ENGINE_UNREACHABLE: "ENGINE_UNREACHABLE",
  INTERNAL: "INTERNAL",
} as const;
export type AppErrorCode = (typeof AppErrorCode)[keyof typeof AppErrorCode];

export class AppError extends Error {
  readonly code: AppErrorCode;
  /** Extra facts safe to show (e.g. the engine's fault reason and detail). */
  readonly details?: Record<string, string | number | boolean | null>;

  constructor(code: AppErrorCode, message: string, details?: AppError["details"]) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.details = details;
  }
}
