import { catalogFacets, catalogFacetsFor, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const restorePointsFacetsOutput = catalogFacets;

/** The choices of the catalog's filters, within the caller's scope. */
export const facets = procedure
  .meta({ permission: "restore-point:read" })
  .output(restorePointsFacetsOutput)
  .query(({ ctx }) => catalogFacetsFor(ctx.db, requireActor(ctx)));
