import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sealSecret } from "@lifeboat/config";
import type { Db } from "@lifeboat/db";
import { type Simulator, startSimulator } from "@lifeboat/ovirt-sim";
import { TEST_ENCRYPTION_KEY } from "../src/testing";

/**
 * Fixtures of the backups / restores / jobs tests (and their authorization cases): a real simulated engine
 * registered in the catalog with a sealed password, and catalog restore points written directly.
 */

export interface SimEngine {
  sim: Simulator;
  engineId: string;
  stop(): Promise<void>;
}

/** Starts a simulated engine (small seed unless `seed: false`) and registers it, sealed with the tests' key. */
export async function registerSimEngine(
  db: Db,
  opts: { seed?: boolean; name?: string } = {},
): Promise<SimEngine> {
  const key = TEST_ENCRYPTION_KEY;
  const dir = await mkdtemp(path.join(os.tmpdir(), "lifeboat-api-sim-"));
  const sim = await startSimulator({
    dataDir: dir,
    seed: opts.seed ?? true,
    seedScale: "small",
    asyncDelayMs: 30,
    transferPollMs: 30,
  });
  const engine = await db.engine.create({
    data: {
      name: opts.name ?? `Simulated ${randomUUID().slice(0, 6)}`,
      apiUrl: sim.engineUrl,
      username: sim.adminUser,
      secretSealed: sealSecret(sim.adminPassword, key),
      caPem: sim.caPem,
      simulated: true,
    },
  });
  return {
    sim,
    engineId: engine.id,
    async stop() {
      await sim.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A complete restore point of a catalog VM, with one disk of one layer (catalog rows only). */
export async function catalogRestorePoint(
  db: Db,
  vm: { id: string; engineId: string; name: string },
  over: { verifyState?: string; verifyError?: string | null; state?: string } = {},
): Promise<{ id: string; diskId: string }> {
  const diskId = randomUUID();
  const rp = await db.restorePoint.create({
    data: {
      vmId: vm.id,
      engineId: vm.engineId,
      vmName: vm.name,
      ovf: "<ovf:Envelope/>",
      state: over.state ?? "complete",
      verifyState: over.verifyState ?? "unverified",
      verifyError: over.verifyError ?? null,
      searchText: vm.name.toLowerCase(),
      disks: {
        create: [
          {
            diskId,
            alias: `${vm.name}_Disk1`,
            provisionedSize: 64n * 1024n * 1024n,
            format: "cow",
            position: 0,
            layers: {
              create: [
                {
                  position: 0,
                  imageId: randomUUID(),
                  format: "cow",
                  virtualSize: 64n * 1024n * 1024n,
                  size: 1024n * 1024n,
                  sha256: "0".repeat(64),
                  manifestId: randomUUID(),
                },
              ],
            },
          },
        ],
      },
    },
  });
  return { id: rp.id, diskId };
}

/**
 * A new catalog VM that team A ("a-*" names) or team B ("b-*") owns in the authorization world, on `engineId`.
 */
export async function worldVm(
  w: { db: Db; teamA: string; unique(prefix: string): string },
  teamId: string,
  engineId: string,
): Promise<{ id: string; engineId: string; name: string; vmId: string }> {
  const { recomputeVmTeams } = await import("@lifeboat/domain");
  const name = w.unique(teamId === w.teamA ? "a-vm" : "b-vm");
  const vm = await w.db.vm.create({ data: { engineId, vmId: randomUUID(), name } });
  await recomputeVmTeams(w.db, { engineId });
  return vm;
}
