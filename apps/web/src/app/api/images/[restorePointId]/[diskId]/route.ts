import { appRouter, createCallerFactory, diskImageResponse } from "@lifeboat/api";
import { createTrpcContext } from "@/server/app";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const createCaller = createCallerFactory(appRouter);

/**
 * GET/HEAD /api/images/<restorePointId>/<diskId>?format=raw|qcow2 — a disk of a restore point as an image file,
 * streamed from the repository with HTTP Range support (resumable). The session cookie authenticates; the
 * permission guard (`restorePoints.downloadAccess`) authorises; every download is audited.
 */
async function handle(req: Request, params: Promise<{ restorePointId: string; diskId: string }>) {
  const { restorePointId, diskId } = await params;
  const ctx = await createTrpcContext(req.headers);
  const caller = createCaller(ctx);
  return diskImageResponse({
    ctx,
    access: (input) => caller.restorePoints.downloadAccess(input),
    method: req.method,
    headers: req.headers,
    searchParams: new URL(req.url).searchParams,
    restorePointId,
    diskId,
  });
}

export function GET(
  req: Request,
  { params }: { params: Promise<{ restorePointId: string; diskId: string }> },
) {
  return handle(req, params);
}

export function HEAD(
  req: Request,
  { params }: { params: Promise<{ restorePointId: string; diskId: string }> },
) {
  return handle(req, params);
}
