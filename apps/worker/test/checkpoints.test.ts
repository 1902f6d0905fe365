import { randomBytes } from "node:crypto";
import { startBackup } from "@lifeboat/domain";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsOf, type Stack, simLeftovers, startStack } from "./support/stack";

/**
 * Checkpoint pruning after backup.vm through the engine's backup API (issue 12): a worker with a chain of 3
 * (LIFEBOAT_CHECKPOINT_CHAIN) leaves at most 3 checkpoints of a VM on the engine, oldest removed first, the
 * newest always the newest restore point's; invalid checkpoints are purged; a removal the engine refuses is a
 * warning on a job that still succeeds.
 */
let s: Stack;
beforeAll(async () => {
  s = await startStack({ sim: { clusterLevel: "4.7" } });
  await s.startWorker({ checkpointChain: 3 });
});
afterAll(async () => {
  await s?.stop();
});

const MiB = 1024 * 1024;

interface Summary {
  mode: string;
  fromCheckpointId: string | null;
  checkpointId: string | null;
}

async function backupJob(name: string) {
  const vm = await s.vmRow(name);
  const { jobId } = await s.run(s.operator, "backup:create", (c) => startBackup(c, c.actor, { vmId: vm.id }));
  const job = await s.waitJob(jobId, ["succeeded"]);
  // Pruning runs once the point is recorded, i.e. after the job is succeeded: wait for the job's last event.
  await s.waitFor(jobId, async () => (await eventsOf(s, jobId)).some((e) => e.step === "end"), 30_000);
  return { jobId, summary: job.result as unknown as Summary };
}

function simVm(name: string) {
  const vm = s.sim.state.vm(name);
  if (!vm) throw new Error(`no VM ${name}`);
  return vm;
}

const chain = (vmId: string) => s.sim.state.checkpoints(vmId);

describe("checkpoint pruning after a backup through the backup API", () => {
  it("9 incrementals with a chain of 3: the engine holds the newest 3, the newest the last point's; the next backup is still incremental", async () => {
    const vm = simVm("web01");
    const disk = vm.attachments[0]?.diskId as string;
    const full = await backupJob("web01");
    expect(full.summary.mode).toBe("full");
    const points = [full.summary.checkpointId as string];
    for (let i = 1; i <= 9; i++) {
      await s.sim.guest.writeAt(disk, i * 4 * MiB, randomBytes(64 * 1024));
      const inc = await backupJob("web01");
      expect(inc.summary).toMatchObject({ mode: "incremental", fromCheckpointId: points.at(-1) });
      points.push(inc.summary.checkpointId as string);
      expect(chain(vm.id).length).toBe(Math.min(3, points.length));
    }
    const held = chain(vm.id);
    expect(held.map((c) => c.id)).toEqual(points.slice(-3));
    expect(held.at(-1)?.id).toBe(points.at(-1));
    // The last job said what it removed.
    const last = await backupJob("web01");
    expect(last.summary).toMatchObject({ mode: "incremental", fromCheckpointId: points.at(-1) });
    points.push(last.summary.checkpointId as string);
    expect(chain(vm.id).map((c) => c.id)).toEqual(points.slice(-3));
    const messages = (await eventsOf(s, last.jobId)).map((e) => `${e.level} ${e.step}: ${e.message}`);
    expect(messages).toContain(
      `info checkpoints: removed checkpoint ${points.at(-4)} from the engine: no longer needed (keeping 3)`,
    );
    expect(simLeftovers(s.sim)).toEqual([]);
  }, 240_000);

  it("purges an invalidated checkpoint (and the older ones that must go before it); with the newest invalid, a full backup leaves only its own", async () => {
    const vm = simVm("db01");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await backupJob("db01")).summary.checkpointId as string);
    expect(chain(vm.id).map((c) => c.id)).toEqual(ids);
    // The middle one turns invalid: the next backup (incremental from the newest, still valid) purges it.
    s.sim.faults.damageCheckpoint({ effect: "invalid", vmId: vm.id, checkpointId: ids[1] });
    const next = await backupJob("db01");
    expect(next.summary).toMatchObject({ mode: "incremental", fromCheckpointId: ids[2] });
    expect(chain(vm.id).map((c) => c.id)).toEqual([ids[2], next.summary.checkpointId]);
    const messages = (await eventsOf(s, next.jobId)).map((e) => e.message);
    expect(messages).toContain(`removed checkpoint ${ids[1]} from the engine: invalid`);
    expect(messages).toContain(`removed checkpoint ${ids[0]} from the engine: no longer needed (keeping 3)`);

    // The newest turns invalid: a full backup, and every older checkpoint goes.
    s.sim.faults.damageCheckpoint({
      effect: "invalid",
      vmId: vm.id,
      checkpointId: next.summary.checkpointId as string,
    });
    const full = await backupJob("db01");
    expect(full.summary).toMatchObject({ mode: "full", fromCheckpointId: null });
    expect(chain(vm.id).map((c) => c.id)).toEqual([full.summary.checkpointId]);
    expect(chain(vm.id).every((c) => c.state !== "invalid")).toBe(true);
  }, 240_000);

  it("a checkpoint the engine refuses to remove is a warning; the backup succeeds and the next one prunes", async () => {
    const vm = simVm("db01");
    const before = chain(vm.id).map((c) => c.id);
    // Two more backups: 1 + 2 = 3 checkpoints, nothing to prune yet.
    await backupJob("db01");
    await backupJob("db01");
    expect(chain(vm.id).length).toBe(3);
    s.sim.faults.failOperation("checkpoints.remove", {
      status: 409,
      detail: "Cannot remove VM Checkpoint. Refused for the test.",
    });
    const refused = await backupJob("db01");
    expect(refused.summary.mode).toBe("incremental");
    expect(chain(vm.id).length).toBe(4);
    const events = await eventsOf(s, refused.jobId);
    const warn = events.find((e) => e.step === "checkpoints" && e.level === "warn");
    expect(warn?.message).toMatch(
      new RegExp(
        `checkpoint ${before[0]} could not be removed from the engine \\(.*Refused for the test.*\\): 4 checkpoints stay`,
      ),
    );
    const next = await backupJob("db01");
    expect(
      chain(vm.id)
        .map((c) => c.id)
        .at(-1),
    ).toBe(next.summary.checkpointId);
    expect(chain(vm.id).length).toBe(3);
  }, 240_000);
});
