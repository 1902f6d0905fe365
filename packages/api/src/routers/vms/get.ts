import { getVm, requireActor, vmListItem } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const vmsGetInput = z.object({ id: z.string().min(1).max(100) });

/** One VM of the caller's teams (NOT_FOUND otherwise), as the VM list shows it. */
export const get = procedure
  .meta({ permission: "vm:read" })
  .input(vmsGetInput)
  .output(vmListItem)
  .query(({ ctx, input }) => getVm(ctx.db, requireActor(ctx), input.id));
