import {
  inventoryRefreshed,
  inventoryRefreshRequest,
  refreshInventoriesNow,
  requireActor,
} from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const vmsRefreshInput = inventoryRefreshRequest;
export const vmsRefreshOutput = inventoryRefreshed;

/**
 * Reads the VM lists of the engines again now (one engine, or all enabled ones), instead of waiting for the
 * periodic refresh. Any VM reader may ask; engines refreshed in the last seconds are skipped.
 */
export const refresh = procedure
  .meta({ permission: "vm:read" })
  .input(vmsRefreshInput)
  .output(vmsRefreshOutput)
  .mutation(({ ctx, input }) => {
    requireActor(ctx);
    return refreshInventoriesNow(ctx, input);
  });
