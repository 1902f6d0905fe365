import { engineUpdateRequest, engineView, requireActor, updateEngine } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const enginesUpdateInput = engineUpdateRequest;

/**
 * Changes an engine's name, URL, credentials, CA or TLS setting (a password only when a new one is given; a
 * changed URL, CA or TLS setting needs it).
 */
export const update = procedure
  .meta({ permission: "site:engines" })
  .input(enginesUpdateInput)
  .output(engineView)
  .mutation(({ ctx, input }) => updateEngine(ctx, requireActor(ctx), input));
