import { caInfoView, fetchEngineCa } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const enginesFetchCaInput = z.object({ apiUrl: z.string().trim().min(1).max(500) });
export const enginesFetchCaOutput = z.object({ pem: z.string(), info: caInfoView, url: z.string() });

/**
 * Fetches the engine CA from its pki-resource URL, for the administrator to compare its fingerprint with the
 * engine's before saving it (nothing is saved here).
 */
export const fetchCa = procedure
  .meta({ permission: "site:engines" })
  .input(enginesFetchCaInput)
  .output(enginesFetchCaOutput)
  .mutation(async ({ ctx, input }) => {
    ctx.audit.details = { apiUrl: input.apiUrl };
    const ca = await fetchEngineCa(input.apiUrl);
    ctx.audit.details = { ...ctx.audit.details, fingerprint256: ca.info.fingerprint256 };
    return ca;
  });
