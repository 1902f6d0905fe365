import { engineUpdate, engineView, publishEvent, updateEngine } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const enginesUpdateInput = engineUpdate.extend({ id: z.string().min(1).max(100) });

/** Changes an engine's name, URL, credentials, CA or TLS setting (a password only when a new one is given). */
export const update = procedure
  .meta({ permission: "site:engines" })
  .input(enginesUpdateInput)
  .output(engineView)
  .mutation(async ({ ctx, input }) => {
    const { id, ...patch } = input;
    ctx.audit.targetType = "engine";
    ctx.audit.targetId = id;
    ctx.audit.details = {
      changed: Object.entries(patch)
        .filter(([, v]) => v !== undefined)
        .map(([k]) => k),
      ...(patch.insecure !== undefined ? { insecure: patch.insecure } : {}),
    };
    const engine = await updateEngine(ctx.db, ctx.config.encryptionKey, id, patch);
    await publishEvent(ctx.db, { kind: "engine", id, teams: null });
    return engine;
  });
