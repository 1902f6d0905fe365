import type { Db } from "@lifeboat/db";
import { afterAll } from "vitest";
import { catalogRestorePoint, registerSimEngine, type SimEngine, worldVm } from "../../jobs-fixtures";
import { cases } from "../case";
import type { World } from "../world";

// Restores check the target name on the engine: these cases talk to a real simulated engine (no VMs).
let engine: Promise<SimEngine> | undefined;
const simEngine = (db: Db) => {
  engine ??= registerSimEngine(db, { seed: false, name: "authz sim engine" });
  return engine;
};
afterAll(async () => {
  await (await engine)?.stop();
});

async function restorePoint(w: World, teamId: string) {
  const { engineId } = await simEngine(w.db);
  return catalogRestorePoint(w.db, await worldVm(w, teamId, engineId));
}

const REQUESTERS = ["operator", "admin", "site-admin"] as const;

export default cases([
  {
    path: "restores.start",
    allow: REQUESTERS,
    target: "team",
    call: async ({ caller, w, teamId }) =>
      caller.restores.start({
        restorePointId: (await restorePoint(w, teamId)).id,
        name: w.unique("restored"),
      }),
  },
  {
    path: "restores.startDisk",
    allow: REQUESTERS,
    target: "team",
    call: async ({ caller, w, teamId }) => {
      const rp = await restorePoint(w, teamId);
      return caller.restores.startDisk({ restorePointId: rp.id, diskId: rp.diskId, alias: w.unique("disk") });
    },
  },
  {
    path: "restores.checkName",
    allow: REQUESTERS,
    target: "team",
    call: async ({ caller, w, teamId }) =>
      caller.restores.checkName({
        restorePointId: (await restorePoint(w, teamId)).id,
        name: w.unique("name"),
      }),
  },
]);
