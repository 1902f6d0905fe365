import { TRPCError } from "@trpc/server";

/**
 * The one error type procedures throw on purpose. `message` is for people: what went wrong and what to do next.
 * Anything else thrown inside a procedure is reported to the user as an internal error without its details.
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

const toTrpc: Record<AppErrorCode, TRPCError["code"]> = {
  BAD_REQUEST: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  PRECONDITION_FAILED: "PRECONDITION_FAILED",
  TOO_MANY_REQUESTS: "TOO_MANY_REQUESTS",
  ENGINE_ERROR: "BAD_GATEWAY",
  ENGINE_UNREACHABLE: "SERVICE_UNAVAILABLE",
  INTERNAL: "INTERNAL_SERVER_ERROR",
};

/** HTTP status per code, for non-tRPC routes (image download) that share the error type. */
export const appErrorHttpStatus: Record<AppErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  TOO_MANY_REQUESTS: 429,
  ENGINE_ERROR: 502,
  ENGINE_UNREACHABLE: 503,
  INTERNAL: 500,
};

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

  toTRPCError(): TRPCError {
    return new TRPCError({ code: toTrpc[this.code], message: this.message, cause: this });
  }

  static from(e: unknown): AppError | undefined {
    if (e instanceof AppError) return e;
    if (e instanceof TRPCError && e.cause instanceof AppError) return e.cause;
    return undefined;
  }
}
