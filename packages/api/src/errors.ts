import { AppError, type AppErrorCode } from "@lifeboat/domain";
import { TRPCError } from "@trpc/server";

/** The one place where the domain's error codes become tRPC codes (and so HTTP statuses). */
const trpcCode: Record<AppErrorCode, TRPCError["code"]> = {
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

/** HTTP status per code, for non-tRPC routes (image download, audit CSV) that share the error type. */
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

export function toTRPCError(e: AppError): TRPCError {
  return new TRPCError({ code: trpcCode[e.code], message: e.message, cause: e });
}

/** The AppError behind `e`: itself, or the cause of the tRPC error it became. */
export function appErrorOf(e: unknown): AppError | undefined {
  if (e instanceof AppError) return e;
  if (e instanceof TRPCError && e.cause instanceof AppError) return e.cause;
  return undefined;
}
