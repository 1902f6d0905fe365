import {
  downloadAccess as downloadAccessOf,
  downloadAccessView,
  imageDownloadRequest,
  imageDownloadRequested,
  requestImageDownload,
  requireActor,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const downloadAccessInput = z.object({
  restorePointId: z.string().min(1).max(100),
  /** The oVirt disk id (or the catalog disk row id). */
  diskId: z.string().min(1).max(100),
});

/** Whether the caller may download this disk now, or must (or did) ask for approval first. */
export const downloadAccess = procedure
  .meta({ permission: "image:download" })
  .input(downloadAccessInput)
  .output(downloadAccessView)
  .query(({ ctx, input }) => downloadAccessOf(ctx.db, requireActor(ctx), input.restorePointId, input.diskId));

/** Asks another approver of the team to allow a disk image download (teams that require it). */
export const requestDownload = procedure
  .meta({ permission: "image:download" })
  .input(imageDownloadRequest)
  .output(imageDownloadRequested)
  .mutation(({ ctx, input }) => requestImageDownload(ctx, requireActor(ctx), input));
