import { refreshAllInventories } from "@lifeboat/domain";
import type { JobHandler } from "../job-context";

/** Reads the VM lists of the enabled engines into the inventory (one failing engine does not stop the others). */
export const inventoryRefresh: JobHandler<"inventory.refresh"> = async ({ db, input, signal, settings }) => {
  const results = await refreshAllInventories(db, {
    encryptionKey: settings.config.encryptionKey,
    signal,
    ...(input.engineId ? { engineIds: [input.engineId] } : {}),
  });
  for (const r of results)
    if ("error" in r) console.warn(`[worker] inventory of ${r.engineName}: ${r.error}`);
  return { engines: results };
};
