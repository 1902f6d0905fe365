import { Readable } from "node:stream";
import { catalogRepository, recordAudit } from "@lifeboat/domain";
import type { DiskImageExport } from "@lifeboat/ovirt-core";
import { openDiskImageExport } from "@lifeboat/ovirt-core";
import type { Repository } from "@lifeboat/repository";
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import type { Context } from "../../context";
import { appErrorHttpStatus, appErrorOf } from "../../errors";
import type { DownloadAccess } from "./download-access";

/**
 * `GET /api/images/<restorePointId>/<diskId>?format=raw|qcow2`: one disk of a restore point streamed from the
 * repository as an image file — never held in memory — with HTTP Range (one range → 206, unsatisfiable → 416,
 * none or several → 200 with everything), so browsers and download tools can resume. Authorisation goes through
 * the normal permission guard (`restorePoints.downloadAccess`: image:download in the owning team, plus an
 * approval when the team requires one); every answer with data, and every refusal, is audited.
 */
export interface DiskImageRequest {
  /** The caller's API context (session cookie already resolved). */
  ctx: Context;
  /** Asks the guarded procedure; a TRPCError becomes the HTTP status. */
  access(input: { restorePointId: string; diskId: string }): Promise<DownloadAccess>;
  method: string;
  headers: Headers;
  searchParams: URLSearchParams;
  restorePointId: string;
  diskId: string;
  /** Default: this installation's repository. */
  repository?: () => Promise<Repository>;
}

const FORMATS = ["raw", "qcow2"] as const;
type ImageFormat = (typeof FORMATS)[number];

function textResponse(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(`${message}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

/**
 * The single byte range of a Range header against `size`: inclusive bounds, "unsatisfiable", or null to send
 * everything (no header, not a bytes range, several ranges, or unparsable — RFC 9110 lets a server ignore those).
 */
export function parseRange(
  header: string | null,
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

/** A file name safe in a Content-Disposition header and on every file system. */
export function safeFileName(parts: string[], ext: string): string {
  const base = parts
    .join("_")
    .normalize("NFKD")
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .replace(/_+/g, "_")
    .replace(/^[._]+|[._]+$/g, "")
    .slice(0, 150);
  return `${base || "disk"}.${ext}`;
}

function statusOf(e: unknown): number {
  const app = appErrorOf(e);
  if (app) return appErrorHttpStatus[app.code];
  if (e instanceof TRPCError) return getHTTPStatusCodeFromError(e);
  return 500;
}

export async function diskImageResponse(req: DiskImageRequest): Promise<Response> {
  const { ctx } = req;
  const user = ctx.session?.user;
  const formatParam = req.searchParams.get("format") ?? "raw";
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
      targetId: req.restorePointId.slice(0, 100),
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      details: { diskId: req.diskId.slice(0, 100), format: formatParam.slice(0, 20), ...details },
    }).catch((e) => console.error("[images] audit failed", e));

  if (req.method !== "GET" && req.method !== "HEAD")
    return textResponse(405, "Only GET and HEAD.", { allow: "GET, HEAD" });
  if (!(FORMATS as readonly string[]).includes(formatParam))
    return textResponse(400, `Unknown format "${formatParam.slice(0, 20)}": use raw or qcow2.`);
  const format = formatParam as ImageFormat;

  let access: DownloadAccess;
  try {
    access = await req.access({ restorePointId: req.restorePointId, diskId: req.diskId });
  } catch (e) {
    const status = statusOf(e);
    const message = e instanceof Error && status < 500 ? e.message : "The download could not start.";
    if (status === 500) console.error("[images] access check failed", e);
    if (user)
      await audit(status === 401 || status === 403 || status === 404 ? "denied" : "failure", { status });
    return textResponse(status, message);
  }
  if (!access.allowed) {
    await audit("denied", { status: 403, reason: "approval required" }, access.teamId);
    return textResponse(
      403,
      access.approval.pendingRequestId
        ? "This download waits for another approver of the team (request pending)."
        : "Your team requires an approval for image downloads: ask for one on the restore point's page.",
    );
  }

  let image: DiskImageExport;
  try {
    const repository = await (req.repository ?? (() => catalogRepository()))();
    const manifest = await repository.readRestorePoint(access.manifestId);
    image = await openDiskImageExport(repository, manifest, access.diskId, format);
  } catch (e) {
    console.error(`[images] opening ${access.restorePointId}/${access.diskId} failed`, e);
    await audit("failure", { status: 500 }, access.teamId);
    return textResponse(
      500,
      "The restore point's data could not be read from the repository. Verify the restore point; the server log has details.",
    );
  }

  const etag = `"${access.restorePointId}-${access.diskId}-${format}"`;
  const date = access.createdAt.toISOString().slice(0, 16).replace(/[:T]/g, "-");
  const fileName = safeFileName([access.vmName, access.alias, date], format === "qcow2" ? "qcow2" : "img");
  const headers: Record<string, string> = {
    "content-type": "application/octet-stream",
    "content-disposition": `attachment; filename="${fileName}"`,
    "accept-ranges": "bytes",
    etag,
    "cache-control": "private, no-store",
    "x-content-type-options": "nosniff",
  };
  // If-Range: resume only when the image is the same one (it never changes for a restore point and format).
  const ifRange = req.headers.get("if-range");
  const range = ifRange && ifRange !== etag ? null : parseRange(req.headers.get("range"), image.size);
  if (range === "unsatisfiable") {
    await image.close();
    return textResponse(416, `The image has ${image.size} bytes.`, {
      "content-range": `bytes */${image.size}`,
    });
  }
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
  if (req.method === "HEAD" || image.size === 0) {
    await image.close();
    return new Response(null, { status, headers });
  }

  const stream = image.read(start, end);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    image.close().catch(() => undefined);
  };
  stream.on("close", close);
  stream.on("error", (e) => {
    // A client that goes away is no failure; anything else: the headers are gone already, so the client sees a
    // short body and can resume with a Range.
    if ((e as NodeJS.ErrnoException).code !== "ERR_STREAM_PREMATURE_CLOSE")
      console.error(`[images] streaming ${access.restorePointId}/${access.diskId} failed`, e);
    close();
  });
  return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { status, headers });
}
