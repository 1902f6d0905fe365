import { appRouter, createCallerFactory } from "@lifeboat/api";
import { catalogRepository } from "@lifeboat/domain";
import type { NextApiRequest, NextApiResponse } from "next";
import { createTrpcContext } from "@/server/app";
import { serveDiskImage } from "@/server/disk-image-download";

/** No body parsing (GET/HEAD only) and no response size warning: images are large on purpose. */
export const config = { api: { bodyParser: false, responseLimit: false } };

const createCaller = createCallerFactory(appRouter);

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * GET/HEAD /api/images/<restorePointId>/<diskId>?format=raw|qcow2 — a disk of a restore point as an image file,
 * streamed from the repository with Content-Length and HTTP Range support (resumable). The session cookie
 * authenticates; the permission guard (`restorePoints.downloadAccess`) authorises; every download is audited.
 * A Pages API route on purpose: it writes the Node response itself (see serveDiskImage).
 */
export default async function handler(req: NextApiRequest, res: NextApiResponse): Promise<void> {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers))
    if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
  const ctx = await createTrpcContext(headers);
  const caller = createCaller(ctx);
  await serveDiskImage(req, res, {
    ctx,
    access: (input) => caller.restorePoints.downloadAccess(input),
    restorePointId: one(req.query.restorePointId) ?? "",
    diskId: one(req.query.diskId) ?? "",
    format: one(req.query.format),
    repository: () => catalogRepository(ctx.config.repository),
  });
}
