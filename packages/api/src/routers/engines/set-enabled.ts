import { engineEnabledRequest, engineView, requireActor, setEngineEnabled } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const enginesSetEnabledInput = engineEnabledRequest;

/**
 * Disables (or enables again) an engine: a disabled engine gets no backups, restores or inventory refreshes;
 * its VMs and restore points stay in the catalog.
 */
export const setEnabled = procedure
  .meta({ permission: "site:engines" })
  .input(enginesSetEnabledInput)
  .output(engineView)
  .mutation(({ ctx, input }) => setEngineEnabled(ctx, requireActor(ctx), input));
