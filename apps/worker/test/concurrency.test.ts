import type { Job } from "@lifeboat/db";
import { cancelJob, startBackup } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsOf, type Stack, simLeftovers, startStack } from "./support/stack";

let s: Stack;

beforeAll(async () => {
  s = await startStack();
});
afterAll(async () => {
  await s?.stop();
});

/** In-process workers share this process's pg-boss; stopping them drops it, so the next ones get a new one. */
async function stopWorkers() {
  for (const w of s.workers.splice(0)) await w.stop().catch(() => undefined);
  await stopBosses();
}

async function startBackups(names: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const n of names) {
    const vm = await s.vmRow(n);
    ids.push(
      (await s.run(s.operator, "backup:create", (c) => startBackup(c, c.actor, { vmId: vm.id }))).jobId,
    );
  }
  return ids;
}

/** When each job held its engine slot: from its "start" event (written once the slot is taken) to its end. */
async function slotWindows(ids: string[]): Promise<Array<{ job: Job; from: number; to: number }>> {
  const out = [];
  for (const id of ids) {
    const job = await s.t.db.job.findUniqueOrThrow({ where: { id } });
    const start = (await eventsOf(s, id)).find((e) => e.step === "start");
    if (!start || !job.finishedAt) throw new Error(`job ${id} has no start event or did not finish`);
    out.push({ job, from: start.at.getTime(), to: job.finishedAt.getTime() });
  }
  return out;
}

describe("concurrency", () => {
  it("backs up two VMs at the same time", async () => {
    await s.startWorker({ engineConcurrency: 2 });
    s.sim.faults.addLatency({ ms: 400, target: "imageio", op: "images.get" });
    const ids = await startBackups(["web01", "db01"]);
    for (const id of ids) await s.waitJob(id, ["succeeded"]);
    s.sim.faults.clear();
    const [a, b] = await slotWindows(ids);
    if (!a || !b) throw new Error("two jobs expected");
    expect(a.from < b.to && b.from < a.to).toBe(true);
    expect(simLeftovers(s.sim)).toEqual([]);
    await stopWorkers();
  });

  it("at most one backup per VM is queued or running, enforced by PostgreSQL", async () => {
    // No worker runs: the first backup stays queued.
    const vm = await s.vmRow("app01");
    const { jobId } = await s.run(s.operator, "backup:create", (c) =>
      startBackup(c, c.actor, { vmId: vm.id }),
    );
    await expect(
      s.run(s.operator, "backup:create", (c) => startBackup(c, c.actor, { vmId: vm.id })),
    ).rejects.toThrow(new RegExp(`already queued.*${jobId}`));
    await expect(
      s.run(s.admin, "backup:create", (c) =>
        startBackup(c, c.actor, { engineId: s.engineId, engineVmId: vm.vmId }),
      ),
    ).rejects.toThrow(/already queued/);
    // Not only in code: a second active row is refused by the database itself.
    await expect(
      s.t.db.job.create({ data: { type: "backup.vm", vmId: vm.id, engineId: s.engineId, state: "running" } }),
    ).rejects.toThrow(/Unique constraint|job_one_active_backup_per_vm|unique/i);
    // Other VMs and other job types are not held up.
    await s.t.db.job
      .create({ data: { type: "verify", vmId: vm.id, state: "queued" } })
      .then((j) => s.t.db.job.update({ where: { id: j.id }, data: { state: "cancelled" } }));
    const cancelled = await s.run(s.operator, "job:cancel", (c) => cancelJob(c, c.actor, jobId));
    expect(cancelled.state).toBe("cancelled");
    // Once the first one ended, the VM can be backed up again.
    const again = await s.run(s.operator, "backup:create", (c) => startBackup(c, c.actor, { vmId: vm.id }));
    await s.run(s.operator, "job:cancel", (c) => cancelJob(c, c.actor, again.jobId));
  });

  it("the per-engine limit holds across workers, and a waiting job says so", async () => {
    await s.startWorker({ engineConcurrency: 1 });
    await s.startWorker({ engineConcurrency: 1 });
    s.sim.faults.addLatency({ ms: 300, target: "imageio", op: "images.get" });
    const ids = await startBackups(["web01", "db01", "app01"]);
    const phases = new Set<string>();
    const watch = setInterval(async () => {
      for (const j of await s.t.db.job.findMany({ where: { id: { in: ids } } }))
        if (j.phase) phases.add(j.phase);
    }, 100);
    try {
      for (const id of ids) await s.waitJob(id, ["succeeded"]);
    } finally {
      clearInterval(watch);
      s.sim.faults.clear();
    }
    const windows = (await slotWindows(ids)).sort((x, y) => x.from - y.from);
    for (let i = 1; i < windows.length; i++)
      expect(windows[i]?.from ?? 0).toBeGreaterThanOrEqual(windows[i - 1]?.to ?? Number.POSITIVE_INFINITY);
    expect([...phases]).toContain("waiting for a free slot on engine Simulated engine (1 job at a time)");
    const waited = await s.t.db.jobEvent.count({
      where: { jobId: { in: ids }, step: "slot", message: { startsWith: "waiting for a free slot" } },
    });
    expect(waited).toBeGreaterThan(0);
    expect(simLeftovers(s.sim)).toEqual([]);
    await stopWorkers();
  });
});
