import { randomBytes } from "node:crypto";
import { startBackup } from "@lifeboat/domain";
import { requestCancel } from "@lifeboat/jobs";
import { EngineClient } from "@lifeboat/ovirt-core";
import type { FaultHandle } from "@lifeboat/ovirt-sim";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsOf, type Stack, simLeftovers, startStack } from "./support/stack";

/**
 * The field failures (shared/reference/field-failures.md rows 1, 3, 4, 6, 7, 9) the simulator makes happen,
 * each against backup.vm through the engine's backup API, one after the other on one VM: after each, the
 * engine holds no active backup, no open transfer, no leftover snapshot, no locked disk, the job no leftover;
 * and the next backup succeeds — incremental, as the catalog's newest point still has its checkpoint.
 */
let s: Stack;
let engine: EngineClient;
beforeAll(async () => {
  s = await startStack({ sim: { clusterLevel: "4.7" } });
  await s.startWorker();
  engine = new EngineClient({
    url: s.sim.engineUrl,
    username: s.sim.adminUser,
    password: s.sim.adminPassword,
    caPem: s.sim.caPem,
    pollIntervalMs: 20,
  });
});
afterAll(async () => {
  await engine?.close();
  await s?.stop();
});

const VM = "web01";
const HYBRID_SNAPSHOT = "Auto-generated for Backup VM";

interface Summary {
  mode: string;
  fromCheckpointId: string | null;
  checkpointId: string | null;
}

interface Case {
  row: number;
  name: string;
  /** Switches the fault on before the job. */
  arm(vmId: string, diskId: string): void | Promise<void>;
  /** Run once the job is reading guest data (its transfer open). */
  during?(vmId: string, jobId: string): Promise<void>;
  /** How the job ends, and for a success its mode; for a failure, its error. */
  want:
    | { state: "succeeded"; mode: "full" | "incremental"; event?: RegExp }
    | { state: "failed" | "cancelled"; error: RegExp };
  /** After the fault: anything the test must undo (another tool's objects). */
  undo?(vmId: string): Promise<void>;
}

let foreignBackup: string | undefined;
let held: FaultHandle | undefined;

const cases: Case[] = [
  {
    row: 9,
    name: "another tool's backup of the VM is running: 409 The VM is during a backup operation",
    async arm(vmId, diskId) {
      const b = await engine.backups.start(vmId, { disks: [diskId], description: "another tool" });
      foreignBackup = b.id;
      await engine.backups.waitReady(vmId, b.id, { timeoutMs: 20_000 });
    },
    want: {
      state: "failed",
      error: /is during a backup operation: backup .* \(ready, "another tool"\) holds it/,
    },
    async undo(vmId) {
      await engine.backups.finalizeAndWait(vmId, foreignBackup as string, { timeoutMs: 20_000 });
    },
  },
  {
    row: 1,
    name: "a disk of the VM is locked: 409 Disk is locked",
    arm() {
      s.sim.faults.failOperation("backups.add", {
        status: 409,
        detail: "Cannot backup VM: Disk is locked. Please try again later.",
      });
    },
    want: { state: "failed", error: /Disk is locked/ },
  },
  {
    row: 1,
    name: "the job is cancelled while its transfer is open: the transfer is cancelled, never abandoned",
    arm() {
      // The data request hangs for longer than the cancel takes to reach the job (one heartbeat).
      s.sim.faults.addLatency({ ms: 3000, target: "imageio", op: "images.get", times: 1 });
    },
    async during(_vmId, jobId) {
      await requestCancel(s.t.db, jobId, "the fault matrix");
    },
    want: { state: "cancelled", error: /cancel/i },
  },
  {
    row: 1,
    name: "finalizing the transfer fails once",
    arm() {
      s.sim.faults.failOperation("imagetransfers.finalize", { status: 500 });
    },
    want: { state: "succeeded", mode: "incremental" },
  },
  {
    row: 9,
    name: "a snapshot of the VM asked during the backup is refused; the backup goes on",
    arm() {
      // The backup stays active (finalizing) until the snapshot was asked for.
      held = s.sim.faults.holdBackup({ phase: "finalizing" });
    },
    async during(vmId) {
      const err = await engine.snapshots.add(vmId, { description: "someone else's" }).catch((e) => e);
      held?.remove();
      expect(String((err as Error).message)).toMatch(/during a backup operation/);
    },
    want: { state: "succeeded", mode: "incremental" },
  },
  {
    row: 3,
    name: "finalize refused while a transfer is (still) open",
    arm() {
      s.sim.faults.failOperation("backups.finalize", {
        status: 409,
        detail: "Cannot stop VM Backup. The backup has image transfers in progress: 0.",
      });
    },
    want: { state: "succeeded", mode: "incremental" },
  },
  {
    row: 3,
    name: "the backup stays in finalizing for a while (engine restart)",
    arm() {
      held = s.sim.faults.holdBackup({ phase: "finalizing" });
    },
    async during(vmId) {
      // Released a second after the job's backup got stuck in finalizing: the job's wait goes on until then.
      const deadline = Date.now() + 30_000;
      while (!s.sim.state.backups(vmId).some((b) => b.phase === "finalizing")) {
        if (Date.now() > deadline) throw new Error("the backup never reached finalizing");
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 1000));
      held?.remove();
    },
    want: { state: "succeeded", mode: "incremental" },
  },
  {
    row: 4,
    name: "the engine leaves the hybrid backup's snapshot behind",
    arm() {
      s.sim.faults.failOperation("backups.snapshot.remove", { status: 500 });
    },
    want: { state: "succeeded", mode: "incremental", event: /left its snapshot .* behind: removing it/ },
  },
  {
    row: 4,
    name: "the hybrid backup's snapshot cannot be created",
    arm() {
      s.sim.faults.failOperation("snapshots.add.async", { status: 500 });
    },
    want: { state: "failed", error: /the backup snapshot could not be created/ },
  },
  {
    row: 6,
    name: "the checkpoint turned invalid",
    arm(vmId) {
      s.sim.faults.damageCheckpoint({ effect: "invalid", vmId });
    },
    want: { state: "succeeded", mode: "full", event: /is invalid on the engine: full backup/ },
  },
  {
    row: 6,
    name: "the disk's bitmap of the checkpoint vanished",
    arm(vmId) {
      s.sim.faults.damageCheckpoint({ effect: "bitmap_lost", vmId });
    },
    want: { state: "succeeded", mode: "full", event: /full backup, the engine backs it up in full/ },
  },
  {
    row: 6,
    name: "the checkpoint is gone when the backup starts (404)",
    arm(vmId) {
      s.sim.faults.damageCheckpoint({ effect: "removed", vmId });
    },
    want: {
      state: "succeeded",
      mode: "full",
      event: /refused an incremental from checkpoint .*gone from the engine/,
    },
  },
  {
    row: 6,
    name: "the host crashed: every bitmap lost, every checkpoint invalid",
    arm(vmId) {
      s.sim.faults.damageCheckpoint({ effect: "host_crash", vmId });
    },
    want: { state: "succeeded", mode: "full", event: /is invalid on the engine: full backup/ },
  },
  {
    row: 7,
    name: "slow extents and a data connection dropped mid-range",
    arm() {
      s.sim.faults.addLatency({ ms: 1000, target: "imageio", op: "images.extents", times: 1 });
      s.sim.faults.dropConnection({ method: "GET", afterBytes: 64 * 1024 });
    },
    want: { state: "succeeded", mode: "incremental" },
  },
];

async function backupJob(vmRowId: string, during?: (jobId: string) => Promise<void>) {
  const { jobId } = await s.run(s.operator, "backup:create", (c) =>
    startBackup(c, c.actor, { vmId: vmRowId }),
  );
  let duringDone: Promise<void> | undefined;
  if (during) {
    await s.waitFor(
      jobId,
      async (j) =>
        j.state !== "running" && j.state !== "queued"
          ? true
          : (await eventsOf(s, jobId)).some((e) => /: reading /.test(e.message)),
      30_000,
    );
    duringDone = during(jobId);
  }
  const job = await s.waitJob(jobId, ["succeeded", "failed", "cancelled"], 30_000).catch(async (e) => {
    const log = (await eventsOf(s, jobId)).map((x) => `  ${x.level} ${x.step}: ${x.message}`).join("\n");
    throw new Error(`${(e as Error).message}\n${log}`);
  });
  await duringDone;
  // The job's last event: written once everything after its end state (pruning) is done.
  await s.waitFor(jobId, async () => (await eventsOf(s, jobId)).some((e) => e.step === "end"), 30_000);
  return job;
}

/** Nothing of a backup is left on the engine. */
function expectEngineClean(vmId: string) {
  expect(simLeftovers(s.sim)).toEqual([]);
  expect(s.sim.state.backups(vmId).filter((b) => !["succeeded", "failed"].includes(b.phase))).toEqual([]);
  expect(s.sim.state.transfers().filter((t) => !t.phase.startsWith("finished"))).toEqual([]);
  expect(s.sim.state.snapshots().filter((x) => x.vmId === vmId && x.description === HYBRID_SNAPSHOT)).toEqual(
    [],
  );
  const locked = s.sim.state.disks().filter((d) => d.status !== "ok");
  expect(locked.map((d) => `${d.alias} ${d.status}`)).toEqual([]);
}

describe("the field-failure matrix against backup.vm through the backup API", () => {
  it("after each fault the engine is clean and the next backup succeeds", async () => {
    const vm = s.sim.state.vm(VM);
    if (!vm) throw new Error(`no VM ${VM}`);
    const diskId = vm.attachments[0]?.diskId as string;
    const row = await s.vmRow(VM);
    const first = await backupJob(row.id);
    expect(first.state).toBe("succeeded");
    expect((first.result as unknown as Summary).mode).toBe("full");
    let offset = 0;
    const write = () => {
      offset = (offset + 3) % 48;
      return s.sim.guest.writeAt(diskId, offset * 1024 * 1024, randomBytes(512 * 1024));
    };

    for (const c of cases) {
      const label = `row ${c.row}: ${c.name}`;
      await write();
      await c.arm(vm.id, diskId);
      const job = await backupJob(
        row.id,
        c.during ? (jobId) => (c.during as NonNullable<Case["during"]>)(vm.id, jobId) : undefined,
      );
      const events = await eventsOf(s, job.id);
      const log = events.map((e) => `${e.level} ${e.step}: ${e.message}`).join("\n");
      expect(job.state, `${label}\n${job.error}\n${log}`).toBe(c.want.state);
      if (c.want.state === "succeeded") {
        expect((job.result as unknown as Summary).mode, label).toBe(c.want.mode);
        if (c.want.event) expect(log, label).toMatch(c.want.event);
      } else expect(job.error, label).toMatch(c.want.error);
      s.sim.faults.clear();
      await c.undo?.(vm.id);
      expect(await s.t.db.leftover.count({ where: { jobId: job.id } }), label).toBe(0);
      expectEngineClean(vm.id);

      await write();
      const next = await backupJob(row.id);
      expect(next.state, `${label}: the next backup\n${next.error}`).toBe("succeeded");
      expect((next.result as unknown as Summary).mode, `${label}: the next backup`).toBe("incremental");
      expectEngineClean(vm.id);
    }
  }, 120_000);
});
