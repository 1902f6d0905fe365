import { engineJournal, type JobRun } from "@lifeboat/jobs";
import { cleanupEngineObjects, type EngineClient, type EngineObjectRecord } from "@lifeboat/ovirt-core";

/**
 * Before a later attempt touches the engine: whatever the earlier attempts journaled and did not remove
 * (transfers, the temporary snapshot, half-restored VMs and disks) is cleaned up; what cannot be becomes a
 * Leftover of the job. Returns how many objects were outstanding.
 */
export async function cleanUpEarlierAttempts(
  run: JobRun,
  engine: EngineClient,
  engineId: string,
): Promise<{ outstanding: number; leftovers: number }> {
  const journal = await engineJournal(run.db, run.jobId);
  const open = new Map<string, EngineObjectRecord>();
  for (const r of journal) {
    const key = `${r.kind}:${r.id}`;
    if (r.state === "created") open.set(key, r);
    else open.delete(key);
  }
  if (open.size === 0) {
    run.event("info", "recover", "the earlier attempt left nothing on the engine");
    return { outstanding: 0, leftovers: 0 };
  }
  run.setPhase(`cleaning up after attempt ${run.attempt - 1}`);
  run.event(
    "warn",
    "recover",
    `cleaning up what attempt ${run.attempt - 1} left on the engine: ${[...open.values()].map((r) => `${r.kind.replace("_", " ")} ${r.id}`).join(", ")}`,
  );
  const hooks = run.hooks();
  const { leftovers } = await cleanupEngineObjects(engine, journal, {
    onEvent: hooks.onEvent,
    onEngineObject: hooks.onEngineObject,
  });
  await run.leftovers(engineId, leftovers);
  return { outstanding: open.size, leftovers: leftovers.length };
}
