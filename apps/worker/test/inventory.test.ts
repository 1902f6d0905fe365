import { startBackup } from "@lifeboat/domain";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Stack, startStack } from "./support/stack";

/**
 * The inventory job: a worker that starts reads every enabled engine's VM list at once (then every 5 minutes),
 * so a new installation shows its VMs without anyone asking; and a backup records a repository usage sample.
 */
let s: Stack;

beforeAll(async () => {
  s = await startStack();
});
afterAll(async () => {
  await s?.stop();
});

it("reads the engines' VMs when a worker starts, and a backup moves the repository usage", async () => {
  expect(await s.t.db.vm.count()).toBe(0);
  await s.startWorker();
  const deadline = Date.now() + 30_000;
  let engine = await s.t.db.engine.findUniqueOrThrow({ where: { id: s.engineId } });
  while (!engine.inventoryAt && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    engine = await s.t.db.engine.findUniqueOrThrow({ where: { id: s.engineId } });
  }
  expect(engine.inventoryAt).not.toBeNull();
  const names = (await s.t.db.vm.findMany({ orderBy: { name: "asc" } })).map((v) => v.name);
  expect(names).toEqual(
    s.sim.state
      .vms()
      .map((v) => v.name)
      .sort(),
  );
  // The team's "*" rule gave it every VM as soon as they arrived.
  expect(await s.t.db.vmTeam.count({ where: { teamId: s.teamId } })).toBe(names.length);

  const web = await s.t.db.vm.findFirstOrThrow({ where: { name: "web01" } });
  const { jobId } = await s.run(s.operator, "backup:create", (c) =>
    startBackup(c, c.actor, { vmId: web.id }),
  );
  const job = await s.waitJob(jobId);
  // The sample is written just after the job is marked done: wait for it rather than race it.
  let samples = await s.t.db.repositoryUsage.findMany();
  for (let i = 0; i < 100 && samples.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    samples = await s.t.db.repositoryUsage.findMany();
  }
  expect(samples).toHaveLength(1);
  const point = await s.t.db.restorePoint.findUniqueOrThrow({ where: { id: job.restorePointId ?? "" } });
  expect(samples[0]?.storedBytes).toBe(point.newStoredBytes);
  expect(samples[0]?.logicalBytes).toBe(point.logicalBytes);
});
