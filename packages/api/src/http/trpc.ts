import type { Auth } from "@lifeboat/auth";
import type { Db } from "@lifeboat/db";
import type { DomainConfig } from "@lifeboat/domain";
import type { JobQueue } from "@lifeboat/jobs";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { createContext } from "../context";
import { appRouter } from "../routers/root";
import { MAX_TRPC_BATCH } from "./limits";

export interface TrpcHttpOptions {
  db: Db;
  auth: Auth;
  queue: JobQueue;
  config: DomainConfig;
  /** Origins whose pages may call mutations (see `trustedOrigins`). */
  allowedOrigins: readonly string[];
}

const READS = new Set(["GET", "HEAD"]);

function forbidden(message: string): Response {
  return Response.json(
    { error: { message, code: -32003, data: { code: "FORBIDDEN", httpStatus: 403 } } },
    { status: 403 },
  );
}

/** Whether a `system.health` call in the request found the database or the workers down (`data` is not yet serialized). */
function healthFailed(paths: readonly string[] | undefined, data: readonly unknown[]): boolean {
  return (paths ?? []).some((path, i) => {
    if (path !== "system.health") return false;
    const result = (data[i] as { result?: { data?: { ok?: unknown } } } | undefined)?.result;
    return result?.data?.ok !== true;
  });
}

/**
 * /api/trpc over HTTP. Before tRPC reads anything:
 * - a mutation (every non-GET: tRPC refuses queries over POST) must come from a trusted origin — the cookie is
 *   SameSite=Lax, but a sibling site or an old browser must not be able to post with it;
 * - a mutation without a session never has its body read: every procedure refuses it before its input anyway,
 *   so tRPC gets an empty input and the guard answers 401 and audits the attempt, as for any denied call.
 * The body size is capped earlier, at the edge (`edge.ts`). Batches hold at most MAX_TRPC_BATCH calls, and
 * `system.health` answers 503 while the database is down or no worker is live, so that a load balancer takes the
 * instance out.
 */
export async function handleTrpcRequest(req: Request, opts: TrpcHttpOptions): Promise<Response> {
  const mutation = !READS.has(req.method);
  if (mutation) {
    const origin = req.headers.get("origin");
    if (!origin || !opts.allowedOrigins.includes(origin))
      return forbidden("This request did not come from a Lifeboat page (its Origin is not trusted).");
  }
  const ctx = await createContext({ ...opts, headers: req.headers });
  let request = req;
  if (mutation && !ctx.session) {
    const headers = new Headers(req.headers);
    headers.delete("content-length");
    headers.set("content-type", "application/json");
    const batch = new URL(req.url).searchParams.get("batch") === "1";
    // The original body stays unread; Node's server discards it (at most the edge's limit) after the answer.
    request = new Request(req.url, { method: req.method, headers, body: batch ? "{}" : "" });
  }
  return fetchRequestHandler({
    endpoint: "/api/trpc",
    req: request,
    router: appRouter,
    createContext: () => ctx,
    maxBatchSize: MAX_TRPC_BATCH,
    responseMeta: ({ paths, data }) => (healthFailed(paths, data) ? { status: 503 } : {}),
  });
}
