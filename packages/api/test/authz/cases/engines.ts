import type { Db } from "@lifeboat/db";
import { afterAll } from "vitest";
import { catalogRestorePoint, registerSimEngine, type SimEngine, worldVm } from "../../jobs-fixtures";
import { cases } from "../case";

// Settings → Engines (site administrators) and the restore wizard's pickers (read live from a simulated engine).
let engine: Promise<SimEngine> | undefined;
const simEngine = (db: Db) => {
  engine ??= registerSimEngine(db, { seed: false, name: "authz engines sim" });
  return engine;
};
afterAll(async () => {
  await (await engine)?.stop();
});

const SITE = ["site-admin"] as const;

export default cases([
  { path: "engines.list", allow: SITE, target: "global", call: ({ caller }) => caller.engines.list() },
  {
    path: "engines.create",
    allow: SITE,
    target: "global",
    call: ({ caller, w }) => {
      return caller.engines.create({
        name: w.unique("engine"),
        apiUrl: "https://engine.authz.test",
        username: "admin@internal",
        password: "secret-password",
      });
    },
  },
  {
    path: "engines.update",
    allow: SITE,
    target: "global",
    call: ({ caller, w }) => caller.engines.update({ id: w.engineId, name: w.unique("renamed") }),
  },
  {
    path: "engines.setEnabled",
    allow: SITE,
    target: "global",
    call: ({ caller, w }) => caller.engines.setEnabled({ id: w.engineId, enabled: true }),
  },
  {
    path: "engines.testConnection",
    allow: SITE,
    target: "global",
    // Nothing listens on port 1: the test itself succeeds and reports the failure.
    call: ({ caller }) =>
      caller.engines.testConnection({ apiUrl: "https://127.0.0.1:1", username: "u@internal", password: "p" }),
  },
  {
    path: "engines.fetchCa",
    allow: SITE,
    target: "global",
    call: async ({ caller, w }) => caller.engines.fetchCa({ apiUrl: (await simEngine(w.db)).sim.engineUrl }),
  },
  {
    path: "engines.restoreTargets",
    allow: ["operator", "admin", "site-admin"],
    target: "team",
    call: async ({ caller, w, teamId }) => {
      const { engineId } = await simEngine(w.db);
      const rp = await catalogRestorePoint(w.db, await worldVm(w, teamId, engineId));
      return caller.engines.restoreTargets({ restorePointId: rp.id });
    },
  },
]);
