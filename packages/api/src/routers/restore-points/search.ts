import { CATALOG_SORTS, catalogFilters, catalogItem, requireActor, searchCatalog } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const restorePointsSearchInput = catalogFilters.extend({
  sort: z.enum(CATALOG_SORTS).default("newest"),
  /** `nextCursor` of the previous page (opaque). */
  cursor: z.string().max(1000).optional(),
  limit: z.number().int().min(1).max(100).default(50),
});
export const restorePointsSearchOutput = z.object({
  items: z.array(catalogItem),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: z.string().nullable(),
});

/**
 * The restore-point catalog: text search (all words, over VM name, disk aliases, description, tags and OVF facts)
 * with filters (VM, disk, engine, dates, state, tag, verification), sorting and keyset pages — never outside the
 * caller's teams. A malformed cursor is a BAD_REQUEST.
 */
export const search = procedure
  .meta({ permission: "restore-point:read" })
  .input(restorePointsSearchInput)
  .output(restorePointsSearchOutput)
  .query(({ ctx, input }) => {
    const { sort, cursor, limit, ...filters } = input;
    return searchCatalog(ctx.db, requireActor(ctx), filters, { sort, cursor, limit });
  });
