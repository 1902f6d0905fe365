import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { cancelJob, startBackup, visibleJob } from "@lifeboat/domain";
import { EngineClient } from "@lifeboat/ovirt-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventsOf, type Stack, simLeftovers, startStack } from "./support/stack";

let s: Stack;

beforeAll(async () => {
  s = await startStack();
  await s.startWorker();
});
afterEach(() => s.sim.faults.clear());
afterAll(async () => {
  await s?.stop();
});

async function fileSha256(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

async function backup(name: string) {
  const vm = await s.vmRow(name);
  return (await s.run(s.operator, "backup:create", (c) => startBackup(c, c.actor, { vmId: vm.id }))).jobId;
}

/** After every fault: nothing left on the engine, and the repository reads back intact. */
async function expectClean() {
  expect(simLeftovers(s.sim)).toEqual([]);
  const report = await (await s.repository()).verify();
  expect(report.badChunks).toEqual([]);
  expect(report.ok).toBe(true);
}

describe("faults injected through the sim", () => {
  it("a connection dropped mid-layer: the range is retried and the stored layer is the volume, byte for byte", async () => {
    s.sim.faults.dropConnection({ method: "GET", afterBytes: 300 * 1024, times: 2 });
    const jobId = await backup("db01");
    const job = await s.waitJob(jobId, ["succeeded"]);
    const layers = await s.t.db.layer.findMany({
      where: { disk: { restorePointId: job.restorePointId ?? "" } },
      include: { disk: true },
    });
    expect(layers.length).toBeGreaterThan(0);
    for (const l of layers) {
      const volume = s.sim.state.volumes(l.disk.diskId).find((v) => v.id === l.imageId);
      if (!volume) throw new Error(`volume ${l.imageId} is gone`);
      expect(l.sha256).toBe(await fileSha256(volume.path));
    }
    const warnings = (await eventsOf(s, jobId)).filter((e) => e.level === "warn");
    expect(warnings.length).toBeGreaterThan(0);
    await expectClean();
  });

  it("500 on finalize: retried, the backup completes and nothing is left behind", async () => {
    s.sim.faults.failOperation("imagetransfers.finalize", {
      status: 500,
      times: 2,
      detail: "simulated finalize failure",
    });
    const jobId = await backup("web01");
    await s.waitJob(jobId, ["succeeded"]);
    const events = await eventsOf(s, jobId);
    expect(events.some((e) => e.message.includes("simulated finalize failure"))).toBe(true);
    await expectClean();
  });

  it("409 on snapshot removal: retried with the engine's words in the log, and the snapshot goes", async () => {
    const detail = "Cannot remove Snapshot. Disk web01_Disk1 is being transferred.";
    s.sim.faults.failOperation("snapshots.remove", { status: 409, times: 2, detail });
    const jobId = await backup("web01");
    await s.waitJob(jobId, ["succeeded"]);
    const events = await eventsOf(s, jobId);
    expect(events.some((e) => e.message.includes("being transferred"))).toBe(true);
    await expectClean();
  });

  it("cancel mid-transfer: the step is aborted, the engine cleaned up, the job ends cancelled, nothing recorded", async () => {
    s.sim.faults.addLatency({ ms: 4000, target: "imageio", op: "images.get" });
    const jobId = await backup("app01");
    await s.waitFor(jobId, async () =>
      (await eventsOf(s, jobId)).some((e) => e.message.startsWith("created image transfer")),
    );
    const asked = await s.run(s.operator, "job:cancel", (c) => cancelJob(c, c.actor, jobId));
    expect(asked.cancelRequested).toBe(true);
    const job = await s.waitJob(jobId, ["cancelled"]);
    s.sim.faults.clear();
    expect(job.error).toMatch(/cancel/i);
    expect(await s.t.db.restorePoint.count({ where: { jobId } })).toBe(0);
    const journal = (await eventsOf(s, jobId))
      .filter((e) => e.step === "engine-object")
      .map((e) => e.message);
    expect(journal.filter((m) => m.startsWith("created")).length).toBe(
      journal.filter((m) => m.startsWith("removed")).length,
    );
    await expectClean();
    // The VM can be backed up again at once.
    await s.waitJob(await backup("app01"), ["succeeded"]);
  });

  it("what cannot be cleaned up becomes a leftover of the job, shown with it", async () => {
    s.sim.faults.failOperation("snapshots.remove", {
      status: 400,
      times: 1,
      detail: "simulated refusal to merge",
    });
    const jobId = await backup("web01");
    const job = await s.waitJob(jobId, ["succeeded"]);
    const view = await s.run(s.operator, "job:read", (c) => visibleJob(c.db, c.actor, jobId));
    expect(view.leftovers).toHaveLength(1);
    expect(view.leftovers[0]).toMatchObject({ kind: "snapshot", engineId: s.engineId });
    expect(view.leftovers[0]?.description).toMatch(/simulated refusal to merge/);
    expect((job.result as { leftovers: unknown[] }).leftovers).toHaveLength(1);
    const snapshotId = view.leftovers[0]?.objectId ?? "";
    expect(simLeftovers(s.sim)).toEqual([expect.stringContaining(snapshotId)]);
    // Tidy up by hand, as an operator would.
    const engine = new EngineClient({
      url: s.sim.engineUrl,
      username: s.sim.adminUser,
      password: s.sim.adminPassword,
      caPem: s.sim.caPem,
      pollIntervalMs: 50,
    });
    try {
      await engine.snapshots.delete(s.sim.state.vm("web01")?.id ?? "", snapshotId, {
        deadline: Date.now() + 30_000,
      });
    } finally {
      await engine.close();
    }
    await expectClean();
  });
});
