import {
  requireActor,
  restoreTargets as restoreTargetsOf,
  restoreTargetsQuery,
  restoreTargetsView,
} from "@lifeboat/domain";
import { procedure } from "../../trpc";

/**
 * Where a restore point can be restored to: the enabled engines, and the clusters and data storage domains of
 * the chosen one (default: the point's own), read live from it (the restore wizard's pickers). The original
 * cluster and domains are marked — on another engine, those of the same name.
 */
export const restoreTargets = procedure
  .meta({ permission: "restore:request" })
  .input(restoreTargetsQuery)
  .output(restoreTargetsView)
  .query(({ ctx, input }) => restoreTargetsOf(ctx.db, ctx.config.encryptionKey, requireActor(ctx), input));
