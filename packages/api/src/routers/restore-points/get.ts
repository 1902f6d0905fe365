import { requireActor, restorePointDetail, restorePointDetailView } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const restorePointsGetInput = z.object({ id: z.string().min(1).max(100) });
export const restorePointsGetOutput = restorePointDetailView;

/** One restore point: its disks, each disk's layer chain (base first) and the OVF facts. */
export const get = procedure
  .meta({ permission: "restore-point:read" })
  .input(restorePointsGetInput)
  .output(restorePointsGetOutput)
  .query(({ ctx, input }) => restorePointDetail(ctx.db, requireActor(ctx), input.id));
