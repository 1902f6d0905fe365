import { AppError, refreshAllInventories, requireActor } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const vmsRefreshInput = z.object({ engineId: z.string().max(100).optional() }).default({});
export const vmsRefreshOutput = z.object({
  engines: z.array(
    z.object({
      engineId: z.string(),
      engineName: z.string(),
      seen: z.number().optional(),
      added: z.number().optional(),
      gone: z.number().optional(),
      /** The engine's own words when it could not be read. */
      error: z.string().optional(),
    }),
  ),
});

/** An engine read (or tried) less than this long ago is not asked again (a page full of impatient users). */
const MIN_INTERVAL_MS = 15_000;

/**
 * Reads the VM lists of the engines again now (one engine, or all enabled ones), instead of waiting for the
 * periodic refresh. Any VM reader may ask; engines refreshed in the last seconds are skipped.
 */
export const refresh = procedure
  .meta({ permission: "vm:read" })
  .input(vmsRefreshInput)
  .output(vmsRefreshOutput)
  .mutation(async ({ ctx, input }) => {
    requireActor(ctx);
    const engines = await ctx.db.engine.findMany({
      where: { enabled: true, ...(input.engineId ? { id: input.engineId } : {}) },
      select: { id: true, name: true, lastCheckAt: true },
    });
    if (input.engineId && engines.length === 0)
      throw new AppError("NOT_FOUND", "No such engine, or it is disabled in Lifeboat's settings.");
    const now = Date.now();
    const due = engines.filter((e) => !e.lastCheckAt || now - e.lastCheckAt.getTime() >= MIN_INTERVAL_MS);
    const results = await refreshAllInventories(ctx.db, {
      encryptionKey: ctx.config.encryptionKey,
      engineIds: due.map((e) => e.id),
      interactive: true,
    });
    ctx.audit.targetType = "engine";
    ctx.audit.details = { engines: results.map((r) => r.engineName) };
    const skipped = engines
      .filter((e) => !due.includes(e))
      .map((e) => ({ engineId: e.id, engineName: e.name }));
    return { engines: [...results, ...skipped] };
  });
