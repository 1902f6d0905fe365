import { createEngine, engineInput, engineView, publishEvent } from "@lifeboat/domain";
import { procedure } from "../../trpc";

/** Registers an engine (the password is sealed at once and never shown again). */
export const create = procedure
  .meta({ permission: "site:engines" })
  .input(engineInput)
  .output(engineView)
  .mutation(async ({ ctx, input }) => {
    ctx.audit.targetType = "engine";
    ctx.audit.details = { name: input.name, apiUrl: input.apiUrl, insecure: input.insecure };
    const engine = await createEngine(ctx.db, ctx.config.encryptionKey, input);
    ctx.audit.targetId = engine.id;
    await publishEvent(ctx.db, { kind: "engine", id: engine.id, teams: null });
    return engine;
  });
