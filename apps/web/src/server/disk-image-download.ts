import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { appErrorHttpStatus, appErrorOf, type Context } from "@lifeboat/api";
import {
  type DownloadAccess,
  type ImageFormat,
  imageFileName,
  isImageFormat,
  openImageDownload,
  recordAudit,
} from "@lifeboat/domain";
import type { DiskImageExport } from "@lifeboat/ovirt-core";
import type { Repository } from "@lifeboat/repository";
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";

/**
 * `GET /api/images/<restorePointId>/<diskId>?format=raw|qcow2`: one disk of a restore point streamed from the
 * repository as an image file — never held in memory — with its Content-Length and HTTP Range (one range → 206,
 * unsatisfiable → 416, none or several → 200 with everything), so browsers and download tools show progress and
 * can resume. Authorisation goes through the normal permission guard (`restorePoints.downloadAccess`:
 * image:download in the owning team, plus an approval when the team requires one); every answer with data, and
 * every refusal, is audited.
 *
 * It writes to the Node response itself (a Pages API route), not through a web `Response`: Next drops the
 * Content-Length of an App Router route's response, and a client that goes away ends the pipeline here — the
 * export stream is destroyed and the image closed, nothing is left to write into a closed web stream.
 */
export interface DiskImageDownload {
  /** The caller's API context (session cookie already resolved). */
  ctx: Context;
  /** Asks the guarded procedure; an AppError or TRPCError becomes the HTTP status. */
  access(input: { restorePointId: string; diskId: string }): Promise<DownloadAccess>;
  restorePointId: string;
  diskId: string;
  /** The `format` query parameter (default raw). */
  format: string | undefined;
  /** This installation's repository. */
  repository: () => Promise<Repository>;
  /** Opens the allowed disk as an image (default: the domain's `openImageDownload`). */
  open?: (repository: Repository, access: DownloadAccess, format: ImageFormat) => Promise<DiskImageExport>;
}

function sendText(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
) {
  const body = `${message}\n`;
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
    "content-length": String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(body);
}

/**
 * The single byte range of a Range header against `size`: inclusive bounds, "unsatisfiable", or null to send
 * everything (no header, not a bytes range, several ranges, or unparsable — RFC 9110 lets a server ignore those).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | null {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null;
  const [, a = "", b = ""] = m;
  if (a === "" && b === "") return null;
  if (a === "") {
    // Suffix: the last N bytes.
    const n = Number(b);
    if (!Number.isSafeInteger(n)) return null;
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return null;
  if (b !== "" && Number(b) < start) return null;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

function statusOf(e: unknown): number {
  const app = appErrorOf(e);
  if (app) return appErrorHttpStatus[app.code];
  if (e instanceof TRPCError) return getHTTPStatusCodeFromError(e);
  return 500;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function serveDiskImage(
  req: IncomingMessage,
  res: ServerResponse,
  d: DiskImageDownload,
): Promise<void> {
  const { ctx } = d;
  const user = ctx.session?.user;
  const formatParam = d.format ?? "raw";
  const audit = async (
    outcome: "success" | "failure" | "denied",
    details: Record<string, unknown>,
    teamId?: string | null,
  ) =>
    recordAudit(ctx.db, {
      action: "image.download",
      outcome,
      actorId: user?.id ?? null,
      actorName: user?.name ?? null,
      actorEmail: user?.email ?? null,
      teamId: teamId ?? null,
      targetType: "restore_point",
      targetId: d.restorePointId.slice(0, 100),
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      details: { diskId: d.diskId.slice(0, 100), format: formatParam.slice(0, 20), ...details },
    }).catch((e) => console.error("[images] audit failed", e));

  if (req.method !== "GET" && req.method !== "HEAD")
    return sendText(res, 405, "Only GET and HEAD.", { allow: "GET, HEAD" });
  if (!isImageFormat(formatParam))
    return sendText(res, 400, `Unknown format "${formatParam.slice(0, 20)}": use raw or qcow2.`);
  const format = formatParam;

  let access: DownloadAccess;
  try {
    access = await d.access({ restorePointId: d.restorePointId, diskId: d.diskId });
  } catch (e) {
    const status = statusOf(e);
    const message = e instanceof Error && status < 500 ? e.message : "The download could not start.";
    if (status === 500) console.error("[images] access check failed", e);
    if (user)
      await audit(status === 401 || status === 403 || status === 404 ? "denied" : "failure", { status });
    return sendText(res, status, message);
  }
  if (!access.allowed) {
    await audit("denied", { status: 403, reason: "approval required" }, access.teamId);
    return sendText(
      res,
      403,
      access.approval.pendingRequestId
        ? "This download waits for another approver of the team (request pending)."
        : "Your team requires an approval for image downloads: ask for one on the restore point's page.",
    );
  }

  let image: DiskImageExport;
  try {
    image = await (d.open ?? openImageDownload)(await d.repository(), access, format);
  } catch (e) {
    console.error(`[images] opening ${access.restorePointId}/${access.diskId} failed`, e);
    await audit("failure", { status: 500 }, access.teamId);
    return sendText(
      res,
      500,
      "The restore point's data could not be read from the repository. Verify the restore point; the server log has details.",
    );
  }
  try {
    const etag = `"${access.restorePointId}-${access.diskId}-${format}"`;
    const headers: Record<string, string> = {
      "content-type": "application/octet-stream",
      "content-disposition": `attachment; filename="${imageFileName(access, format)}"`,
      "accept-ranges": "bytes",
      etag,
      "cache-control": "private, no-store",
      "x-content-type-options": "nosniff",
    };
    // If-Range: resume only when the image is the same one (it never changes for a restore point and format).
    const ifRange = header(req, "if-range");
    const range = ifRange && ifRange !== etag ? null : parseRange(header(req, "range"), image.size);
    if (range === "unsatisfiable")
      return sendText(res, 416, `The image has ${image.size} bytes.`, {
        "content-range": `bytes */${image.size}`,
      });
    const start = range ? range.start : 0;
    const end = range ? range.end : image.size - 1;
    const status = range ? 206 : 200;
    headers["content-length"] = String(Math.max(0, end - start + 1));
    if (range) headers["content-range"] = `bytes ${start}-${end}/${image.size}`;
    await audit(
      "success",
      { status, ...(range ? { range: `${start}-${end}` } : {}), size: image.size },
      access.teamId,
    );
    res.writeHead(status, headers);
    if (req.method === "HEAD" || image.size === 0) {
      res.end();
      return;
    }
    // The pipeline ends both sides: a client that goes away destroys the export stream (premature close).
    await pipeline(image.read(start, end), res).catch((e: NodeJS.ErrnoException) => {
      // A client that goes away is no failure; anything else: the headers are gone already, so the client sees
      // a short body and can resume with a Range.
      if (e.code !== "ERR_STREAM_PREMATURE_CLOSE")
        console.error(`[images] streaming ${access.restorePointId}/${access.diskId} failed`, e);
    });
  } finally {
    await image.close().catch(() => undefined);
  }
}
