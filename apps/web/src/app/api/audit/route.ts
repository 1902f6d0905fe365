import { appRouter, createCallerFactory } from "@lifeboat/api";
import { auditCsvStream, auditFilters, recordAudit } from "@lifeboat/domain";
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { createTrpcContext } from "@/server/app";

export const dynamic = "force-dynamic";

const createCaller = createCallerFactory(appRouter);

/**
 * GET /api/audit?actor=&action=&teamId=&outcome=&from=&to=&q= — the audit log as CSV, streamed page by page
 * through the same procedure as the page (same permission, same team scope). The export itself is audited.
 */
export async function GET(req: Request) {
  const params = Object.fromEntries(
    [...new URL(req.url).searchParams.entries()].filter(([, v]) => v.trim() !== ""),
  );
  const filters = auditFilters.safeParse(params);
  if (!filters.success) return new Response("Those filters are not valid.\n", { status: 400 });
  const ctx = await createTrpcContext(req.headers);
  const caller = createCaller(ctx);
  try {
    // Fails early, with a status, when the caller may not read the log.
    await caller.audit.list({ ...filters.data, limit: 1 });
  } catch (e) {
    const status = e instanceof TRPCError ? getHTTPStatusCodeFromError(e) : 500;
    const message = e instanceof TRPCError ? e.message : "The export failed.";
    return new Response(`${message}\n`, { status });
  }
  const user = ctx.session?.user;
  await recordAudit(ctx.db, {
    action: "audit.export",
    outcome: "success",
    actorId: user?.id ?? null,
    actorName: user?.name ?? null,
    actorEmail: user?.email ?? null,
    teamId: filters.data.teamId ?? null,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    details: { filters: filters.data },
  });
  const day = new Date().toISOString().slice(0, 10);
  return new Response(
    auditCsvStream((input) => caller.audit.list(input), filters.data),
    {
      headers: {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `attachment; filename="lifeboat-audit-${day}.csv"`,
        "cache-control": "no-store",
      },
    },
  );
}
