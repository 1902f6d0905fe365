import type { Db } from "@lifeboat/db";
import { type DiskImageExport, openDiskImageExport } from "@lifeboat/ovirt-core";
import type { Repository } from "@lifeboat/repository";
import { z } from "zod";
import { approvalRequired, registerApprovalExecutor, requestApproval } from "./approvals";
import { assertRestorable } from "./catalog";
import type { Actor, ServiceContext } from "./context";
import { AppError } from "./errors";
import { restorePointWhere } from "./vm-ownership";

/**
 * Who may download a disk image of a restore point: `image:download` in a team that owns the VM (operators and
 * admins), plus — when that team asks for it (requireApprovalForDownloads) — an approval of a request of kind
 * `image.download` by another approver, valid for DOWNLOAD_GRANT_HOURS after the decision, for the person who
 * asked and that disk only. The image route (apps/web: /api/images/<restorePointId>/<diskId>) asks
 * `restorePoints.downloadAccess` through the normal permission guard, then opens the image with
 * `openImageDownload` and streams it.
 */
export const DOWNLOAD_GRANT_HOURS = 24;

const downloadPayload = z.object({ restorePointId: z.string().min(1), diskId: z.string().min(1) });

// An approved download runs nothing: the approval itself is the grant the image route looks for.
registerApprovalExecutor(
  "image.download",
  async ({ request }) => ({
    result: {
      grantedUntil: new Date(
        (request.decidedAt ?? new Date()).getTime() + DOWNLOAD_GRANT_HOURS * 3600_000,
      ).toISOString(),
    },
  }),
  { payload: downloadPayload },
);

export const downloadAccessView = z.object({
  restorePointId: z.string(),
  /** The oVirt disk id. */
  diskId: z.string(),
  alias: z.string(),
  vmName: z.string(),
  createdAt: z.date(),
  provisionedSize: z.number(),
  /** Where the restore point's manifest lives in the repository. */
  manifestId: z.string(),
  /** The team the download acts for (null: a VM no team owns, site administrators only). */
  teamId: z.string().nullable(),
  /** The download may start now. */
  allowed: z.boolean(),
  approval: z.object({
    required: z.boolean(),
    /** The caller's open request for this disk. */
    pendingRequestId: z.string().nullable(),
    /** The approved request that allows it, and until when. */
    approvedRequestId: z.string().nullable(),
    validUntil: z.date().nullable(),
  }),
});
export type DownloadAccess = z.infer<typeof downloadAccessView>;

/** The download decision for the actor (permission image:download already checked by the guard). */
export async function downloadAccess(
  db: Db,
  actor: Actor,
  restorePointId: string,
  diskId: string,
): Promise<DownloadAccess> {
  const rp = await db.restorePoint.findFirst({
    where: { AND: [{ id: restorePointId }, restorePointWhere(actor)] },
    include: { disks: true, vm: { select: { teams: { select: { teamId: true } } } } },
  });
  if (!rp) throw new AppError("NOT_FOUND", "No such restore point (or it belongs to another team).");
  const disk = rp.disks.find((d) => d.diskId === diskId || d.id === diskId);
  if (!disk) throw new AppError("NOT_FOUND", "The restore point has no such disk.");
  assertRestorable(rp);
  const teamIds = rp.vm.teams
    .map((t) => t.teamId)
    .filter((t) => actor.siteAdmin || actor.teamIds.includes(t))
    .sort();
  const teams = await db.team.findMany({
    where: { id: { in: teamIds } },
    select: { id: true, requireApprovalForRestores: true, requireApprovalForDownloads: true },
    orderBy: { id: "asc" },
  });
  // Any of the caller's owning teams that does not ask for approval lets the download go.
  const free = teams.find((t) => !approvalRequired(t, "image.download"));
  const acting = free ?? teams[0] ?? null;
  const base = {
    restorePointId: rp.id,
    diskId: disk.diskId,
    alias: disk.alias,
    vmName: rp.vmName,
    createdAt: rp.createdAt,
    provisionedSize: Number(disk.provisionedSize),
    manifestId: rp.manifestId ?? rp.id,
    teamId: acting?.id ?? null,
  };
  if (!acting || free)
    return {
      ...base,
      allowed: true,
      approval: { required: false, pendingRequestId: null, approvedRequestId: null, validUntil: null },
    };
  const mine = await db.approvalRequest.findMany({
    where: {
      kind: "image.download",
      requestedById: actor.userId,
      teamId: { in: teamIds },
      state: { in: ["pending", "approved"] },
      AND: [
        { payload: { path: ["restorePointId"], equals: rp.id } },
        { payload: { path: ["diskId"], equals: disk.diskId } },
      ],
    },
    orderBy: { createdAt: "desc" },
  });
  const now = Date.now();
  const grantUntil = (decidedAt: Date | null) =>
    new Date((decidedAt?.getTime() ?? 0) + DOWNLOAD_GRANT_HOURS * 3600_000);
  const approved = mine.find((r) => r.state === "approved" && grantUntil(r.decidedAt).getTime() > now);
  const pending = mine.find((r) => r.state === "pending" && r.expiresAt.getTime() > now);
  return {
    ...base,
    teamId: approved?.teamId ?? acting.id,
    allowed: approved !== undefined,
    approval: {
      required: true,
      pendingRequestId: pending?.id ?? null,
      approvedRequestId: approved?.id ?? null,
      validUntil: approved ? grantUntil(approved.decidedAt) : null,
    },
  };
}

export const imageDownloadRequest = z.object({
  restorePointId: z.string().min(1).max(100),
  /** The oVirt disk id (or the catalog disk row id). */
  diskId: z.string().min(1).max(100),
  reason: z.string().max(2000),
});
export type ImageDownloadRequest = z.infer<typeof imageDownloadRequest>;

export const imageDownloadRequested = z.object({
  /** not-needed: the download may start now; pending: an approver must decide (the request's id). */
  status: z.enum(["not-needed", "pending"]),
  approvalRequestId: z.string().nullable(),
  expiresAt: z.date().nullable(),
});
export type ImageDownloadRequested = z.infer<typeof imageDownloadRequested>;

/**
 * Asks another approver of the team to allow a disk image download (teams that require it); an open request of
 * the caller for the same disk is returned instead of a second one.
 */
export async function requestImageDownload(
  ctx: ServiceContext,
  actor: Actor,
  input: ImageDownloadRequest,
): Promise<ImageDownloadRequested> {
  const access = await downloadAccess(ctx.db, actor, input.restorePointId, input.diskId);
  ctx.audit.teamId = access.teamId ?? undefined;
  ctx.audit.targetType = "restore_point";
  ctx.audit.targetId = access.restorePointId;
  ctx.audit.details = { diskId: access.diskId, alias: access.alias };
  if (access.allowed) return { status: "not-needed", approvalRequestId: null, expiresAt: null };
  if (access.approval.pendingRequestId) {
    const open = await ctx.db.approvalRequest.findUniqueOrThrow({
      where: { id: access.approval.pendingRequestId },
    });
    return { status: "pending", approvalRequestId: open.id, expiresAt: open.expiresAt };
  }
  if (!access.teamId) throw new AppError("PRECONDITION_FAILED", "No team owns this VM: nobody can approve.");
  const when = access.createdAt.toISOString().replace("T", " ").slice(0, 16);
  const requested = await requestApproval(ctx, {
    teamId: access.teamId,
    kind: "image.download",
    payload: { restorePointId: access.restorePointId, diskId: access.diskId },
    summary: `Download disk ${access.alias} of ${access.vmName} (restore point of ${when} UTC) as an image`,
    reason: input.reason,
    target: { type: "restore_point", id: access.restorePointId },
  });
  return { status: "pending", approvalRequestId: requested.id, expiresAt: requested.expiresAt };
}

export const IMAGE_FORMATS = ["raw", "qcow2"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export function isImageFormat(format: string): format is ImageFormat {
  return (IMAGE_FORMATS as readonly string[]).includes(format);
}

/**
 * Opens the disk of an allowed download as an image of `format`, read from the repository with the catalog's
 * format (never by sniffing bytes). The caller reads byte ranges of it and closes it.
 */
export async function openImageDownload(
  repository: Repository,
  access: DownloadAccess,
  format: ImageFormat,
): Promise<DiskImageExport> {
  if (!access.allowed) throw new AppError("FORBIDDEN", "This download is not allowed (yet).");
  const manifest = await repository.readRestorePoint(access.manifestId);
  return openDiskImageExport(repository, manifest, access.diskId, format);
}

/** The file name of a downloaded image: VM, disk alias and the restore point's time, safe everywhere. */
export function imageFileName(access: DownloadAccess, format: ImageFormat): string {
  const date = access.createdAt.toISOString().slice(0, 16).replace(/[:T]/g, "-");
  return safeFileName([access.vmName, access.alias, date], format === "qcow2" ? "qcow2" : "img");
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
