import { engineCaRequest, engineCaView, fetchEngineCa, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const enginesFetchCaInput = engineCaRequest;
export const enginesFetchCaOutput = engineCaView;

/**
 * Fetches the engine CA from its pki-resource URL, for the administrator to compare its fingerprint with the
 * engine's before saving it (nothing is saved here).
 */
export const fetchCa = procedure
  .meta({ permission: "site:engines" })
  .input(enginesFetchCaInput)
  .output(enginesFetchCaOutput)
  .mutation(({ ctx, input }) => fetchEngineCa(ctx, requireActor(ctx), input));
