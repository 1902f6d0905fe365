import type { ChildProcess } from "node:child_process";
import { startBackup, startRestoreVm } from "@lifeboat/domain";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsOf, guestHash, type Stack, simLeftovers, startStack, vmGuestHashes } from "./support/stack";
import { exited, workerProcess } from "./support/worker-process";

let s: Stack;
const children: ChildProcess[] = [];

beforeAll(async () => {
  s = await startStack();
});
afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await Promise.all(children.map(exited));
  await s?.stop();
});

describe("a worker killed in the middle of a backup", () => {
  it("another worker takes the job over after the lease, cleans the engine up and finishes it, reusing stored layers", async () => {
    const first = await workerProcess(s, children);
    const hashes = await vmGuestHashes(s.sim, "app01");
    // Slow data requests, so that the kill lands in the middle of the second layer.
    s.sim.faults.addLatency({ ms: 1500, target: "imageio", op: "images.get" });
    const vm = await s.vmRow("app01");
    const { jobId } = await s.run(s.operator, "backup:create", (c) =>
      startBackup(c, c.actor, { vmId: vm.id }),
    );
    let storedLayer: string | undefined;
    await s.waitFor(
      jobId,
      async () => {
        const events = await eventsOf(s, jobId);
        const stored = events.findIndex((e) => /bytes stored$/.test(e.message));
        if (stored < 0) return false;
        storedLayer = (events[stored]?.details as { layerId?: string } | null)?.layerId;
        return events.slice(stored).some((e) => e.message.startsWith("created image transfer"));
      },
      90_000,
    );
    first.kill("SIGKILL");
    await exited(first);
    s.sim.faults.clear();
    const killed = await s.t.db.job.findUniqueOrThrow({ where: { id: jobId } });
    expect(killed).toMatchObject({ state: "running", attempts: 1 });
    // Mid-backup: a transfer and the temporary snapshot are still on the engine.
    expect(simLeftovers(s.sim).length).toBeGreaterThan(0);

    await workerProcess(s, children);
    const job = await s.waitJob(jobId, ["succeeded"], 120_000);
    expect(job.attempts).toBe(2);
    const events = await eventsOf(s, jobId);
    const steps = events.map((e) => e.step);
    expect(steps).toContain("lease");
    expect(
      events.some((e) => e.step === "recover" && e.message.startsWith("cleaning up what attempt 1 left")),
    ).toBe(true);
    // The layer the dead worker had stored was taken over, not downloaded again.
    expect(storedLayer).toBeTruthy();
    const rp = await s.t.db.restorePoint.findUniqueOrThrow({
      where: { id: job.restorePointId ?? "" },
      include: { disks: { include: { layers: true } } },
    });
    const layers = rp.disks.flatMap((d) => d.layers);
    expect(layers.find((l) => l.manifestId === storedLayer)?.reused).toBe(true);
    // One restore point, in the catalog and in the repository alike; nothing of the dead attempt is visible.
    expect(await s.t.db.restorePoint.count()).toBe(1);
    const repo = await s.repository();
    expect((await repo.listRestorePoints()).map((p) => p.id)).toEqual([rp.id]);
    expect((await repo.verify()).ok).toBe(true);
    expect(simLeftovers(s.sim)).toEqual([]);

    // And it restores to the data the VM had.
    const restore = await s.run(s.operator, "restore:request", (c) =>
      startRestoreVm(c, c.actor, { restorePointId: rp.id, name: "app01-recovered" }),
    );
    if (restore.status !== "queued") throw new Error("the restore waits for approval");
    const restored = await s.waitJob(restore.jobId, ["succeeded"], 120_000);
    for (const d of (restored.result as { disks: Array<{ sourceDiskId: string; diskId: string }> }).disks)
      expect(await guestHash(s.sim, d.diskId)).toBe(hashes.get(d.sourceDiskId));
  });
});
