import { createEngine, engineInput, engineView, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

/** Registers an engine (the password is sealed at once and never shown again). */
export const create = procedure
  .meta({ permission: "site:engines" })
  .input(engineInput)
  .output(engineView)
  .mutation(({ ctx, input }) => createEngine(ctx, requireActor(ctx), input));
