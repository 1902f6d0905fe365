import { listVms, requireActor, vmListFilters, vmListItem } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const vmsListInput = vmListFilters.extend({
  /** `nextCursor` of the previous page (opaque). */
  cursor: z.string().max(1000).optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export const vmsListOutput = z.object({ items: z.array(vmListItem), nextCursor: z.string().nullable() });

/**
 * The VM inventory of every engine, by name, never outside the caller's teams: protection status (a recent
 * complete restore point or a policy), the newest restore point and the backup running now.
 */
export const list = procedure
  .meta({ permission: "vm:read" })
  .input(vmsListInput)
  .output(vmsListOutput)
  .query(({ ctx, input }) => {
    const { cursor, limit, ...filters } = input;
    return listVms(ctx.db, requireActor(ctx), filters, { cursor, limit });
  });
