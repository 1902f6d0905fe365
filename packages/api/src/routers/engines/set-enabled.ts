import { engineView, publishEvent, setEngineEnabled } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const enginesSetEnabledInput = z.object({ id: z.string().min(1).max(100), enabled: z.boolean() });

/**
 * Disables (or enables again) an engine: a disabled engine gets no backups, restores or inventory refreshes;
 * its VMs and restore points stay in the catalog.
 */
export const setEnabled = procedure
  .meta({ permission: "site:engines" })
  .input(enginesSetEnabledInput)
  .output(engineView)
  .mutation(async ({ ctx, input }) => {
    ctx.audit.targetType = "engine";
    ctx.audit.targetId = input.id;
    ctx.audit.details = { enabled: input.enabled };
    const engine = await setEngineEnabled(ctx.db, input.id, input.enabled);
    await publishEvent(ctx.db, { kind: "engine", id: input.id, teams: null });
    return engine;
  });
