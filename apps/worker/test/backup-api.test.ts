import { randomBytes } from "node:crypto";
import { enqueueBackup, startBackup, startRestoreVm } from "@lifeboat/domain";
import { EngineClient } from "@lifeboat/ovirt-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsOf, guestHash, type Stack, simLeftovers, startStack, vmGuestHashes } from "./support/stack";

/**
 * backup.vm in auto mode against a cluster-level-4.7 simulated engine (incremental backup, hybrid mode): full
 * then incremental backup-API points recorded with their checkpoints and per-disk bytes, restorable to the
 * guest data of their moment; the snapshot chain on an old cluster level; a full backup, said in an event, when
 * the engine lost the checkpoint.
 */
let s: Stack;
beforeAll(async () => {
  s = await startStack({ sim: { clusterLevel: "4.7" } });
  await s.startWorker();
});
afterAll(async () => {
  await s?.stop();
});

const MiB = 1024 * 1024;

interface Summary {
  mode: string;
  fromCheckpointId: string | null;
  checkpointId: string | null;
  transferredBytes: number;
  changedBytes: number | null;
  restorePointId: string;
}

/** A backup job of the VM ("Back up now", auto) or, with `mode`, one queued with that mode; its point. */
async function backupJob(name: string, mode?: "full" | "incremental") {
  const vm = await s.vmRow(name);
  const jobId = mode
    ? await enqueueBackup(s.t.db, s.queue, {
        vm: { ...vm, engineId: s.engineId },
        teamId: s.teamId,
        createdBy: null,
        input: { mode },
      })
    : (await s.run(s.operator, "backup:create", (c) => startBackup(c, c.actor, { vmId: vm.id }))).jobId;
  const job = await s.waitJob(jobId, ["succeeded"]);
  const point = await s.t.db.restorePoint.findUniqueOrThrow({
    where: { id: job.restorePointId ?? "" },
    include: { disks: { orderBy: { position: "asc" }, include: { layers: true } } },
  });
  return { jobId, summary: job.result as unknown as Summary, point };
}

function simVm(name: string) {
  const vm = s.sim.state.vm(name);
  if (!vm) throw new Error(`no VM ${name}`);
  return vm;
}

/** No open transfer, locked disk or unfinished engine backup of the VM is left behind. */
function expectEngineClean(vmId: string) {
  expect(simLeftovers(s.sim)).toEqual([]);
  expect(s.sim.state.backups(vmId).filter((b) => b.phase !== "succeeded")).toEqual([]);
}

/** Restores the point as a new VM; its disks hold the guest data the source disks held (`want`, by disk id). */
async function expectRestoresTo(restorePointId: string, name: string, want: Map<string, string>) {
  const started = await s.run(s.operator, "restore:request", (c) =>
    startRestoreVm(c, c.actor, { restorePointId, name }),
  );
  if (started.status !== "queued") throw new Error(`the restore waits for approval: ${started.why}`);
  const restored = (await s.waitJob(started.jobId, ["succeeded"])).result as {
    disks: Array<{ sourceDiskId: string; diskId: string }>;
  };
  expect(restored.disks).toHaveLength(want.size);
  for (const r of restored.disks) expect(await guestHash(s.sim, r.diskId)).toBe(want.get(r.sourceDiskId));
}

describe("backup.vm through the engine's backup API", () => {
  it("first a full point with a checkpoint, then an incremental of only what the guest wrote; it restores to the guest data", async () => {
    const vm = simVm("web01");
    const cowDisk = vm.attachments[0]?.diskId as string;
    const size = s.sim.state.disk(cowDisk)?.provisionedSize as number;

    const full = await backupJob("web01");
    expect(full.point).toMatchObject({
      state: "complete",
      kind: "incremental",
      backupMode: "full",
      fromCheckpointId: null,
    });
    expect(full.point.toCheckpointId).toBeTruthy();
    expect(s.sim.state.checkpoints(vm.id).map((c) => c.id)).toContain(full.point.toCheckpointId);
    expect(full.point.disks[0]).toMatchObject({
      diskId: cowDisk,
      backupMode: "full",
      changedBytes: BigInt(size),
    });
    expect(full.summary).toMatchObject({ mode: "full", checkpointId: full.point.toCheckpointId });
    expectEngineClean(vm.id);

    // 4 MiB in 1 MiB writes, each aligned to the bitmaps' 64 KiB granularity, far apart.
    const written = 4 * MiB;
    for (let i = 1; i <= 4; i++) await s.sim.guest.writeAt(cowDisk, i * 8 * MiB, randomBytes(MiB));
    const want = await vmGuestHashes(s.sim, "web01");

    const inc = await backupJob("web01");
    expect(inc.point).toMatchObject({
      backupMode: "incremental",
      kind: "incremental",
      fromCheckpointId: full.point.toCheckpointId,
    });
    expect(inc.point.toCheckpointId).toBeTruthy();
    expect(inc.point.toCheckpointId).not.toBe(full.point.toCheckpointId);
    const d = inc.point.disks[0];
    expect(d).toMatchObject({ diskId: cowDisk, backupMode: "incremental", changedBytes: BigInt(written) });
    expect(Number(d?.transferredBytes)).toBeGreaterThan(0);
    expect(Number(d?.transferredBytes)).toBeLessThanOrEqual(written);
    expect(Number(d?.transferredBytes)).toBeLessThan(size / 8);
    expect(Number(inc.point.transferredBytes)).toBe(Number(d?.transferredBytes));
    expect(inc.summary).toMatchObject({
      mode: "incremental",
      fromCheckpointId: full.point.toCheckpointId,
      checkpointId: inc.point.toCheckpointId,
      transferredBytes: Number(d?.transferredBytes),
      changedBytes: written,
    });
    expectEngineClean(vm.id);

    await expectRestoresTo(inc.point.id, "web01-incremental", want);
  }, 240_000);

  it("at cluster level 4.6: live mode (scratch disks, no snapshot), full then incremental, restorable", async () => {
    s.sim.setClusterLevel("Default", "4.6");
    try {
      const vm = simVm("web01");
      const cowDisk = vm.attachments[0]?.diskId as string;
      const snapshotsBefore = s.sim.state.snapshots(vm.id).length;
      const full = await backupJob("web01", "full");
      expect(full.point).toMatchObject({ backupMode: "full", fromCheckpointId: null });
      expectEngineClean(vm.id);

      for (let i = 1; i <= 2; i++) await s.sim.guest.writeAt(cowDisk, i * 16 * MiB, randomBytes(MiB));
      const want = await vmGuestHashes(s.sim, "web01");
      const inc = await backupJob("web01");
      // auto mode says why it took the backup API, and in which mode
      const events = await eventsOf(s, inc.jobId);
      expect(events.some((e) => e.step === "mode" && /live mode \(scratch disks\)/.test(e.message))).toBe(
        true,
      );
      expect(inc.point).toMatchObject({
        backupMode: "incremental",
        fromCheckpointId: full.point.toCheckpointId,
      });
      expect(inc.point.disks[0]).toMatchObject({ backupMode: "incremental", changedBytes: BigInt(2 * MiB) });
      expect(Number(inc.point.disks[0]?.transferredBytes)).toBeLessThanOrEqual(2 * MiB);
      // Live mode never made the engine's backup snapshot, and left no scratch disk.
      expect(s.sim.state.snapshots(vm.id)).toHaveLength(snapshotsBefore);
      expectEngineClean(vm.id);
      await expectRestoresTo(inc.point.id, "web01-live-incremental", want);
    } finally {
      s.sim.setClusterLevel("Default", "4.7");
    }
  }, 240_000);

  it("takes the snapshot chain on a cluster level without incremental backup", async () => {
    s.sim.setClusterLevel("Default", "4.4");
    try {
      const vm = simVm("db01");
      const b = await backupJob("db01");
      expect(b.point).toMatchObject({
        kind: "snapshot-chain",
        backupMode: "snapshot-chain",
        toCheckpointId: null,
        fromCheckpointId: null,
      });
      for (const d of b.point.disks) {
        expect(d).toMatchObject({ backupMode: "snapshot-chain", transferredBytes: null, changedBytes: null });
        expect(d.layers.length).toBe(s.sim.state.volumes(d.diskId).length);
        expect(d.layers.every((l) => l.imageioChecksum)).toBe(true);
      }
      expect(b.summary).toMatchObject({ mode: "snapshot-chain", checkpointId: null, changedBytes: null });
      expect(s.sim.state.backups(vm.id)).toEqual([]);
      const events = await eventsOf(s, b.jobId);
      expect(events.find((e) => e.step === "mode")?.message).toMatch(
        /cluster compatibility level 4\.4.*snapshot chain/,
      );
      expectEngineClean(vm.id);
    } finally {
      s.sim.setClusterLevel("Default", "4.7");
    }
  }, 240_000);

  it("falls back to a full backup when the engine no longer has the checkpoint, and says so", async () => {
    const vm = simVm("db01");
    const first = await backupJob("db01");
    expect(first.point.backupMode).toBe("full");
    const checkpointId = first.point.toCheckpointId as string;
    expect(checkpointId).toBeTruthy();
    // As an engine administrator would: the checkpoint is removed on the engine.
    const engine = new EngineClient({
      url: s.sim.engineUrl,
      username: s.sim.adminUser,
      password: s.sim.adminPassword,
      caPem: s.sim.caPem,
    });
    try {
      await engine.checkpoints.remove(vm.id, checkpointId);
    } finally {
      await engine.close();
    }
    expect(s.sim.state.checkpoints(vm.id).map((c) => c.id)).not.toContain(checkpointId);
    const want = await vmGuestHashes(s.sim, "db01");

    const next = await backupJob("db01");
    expect(next.point).toMatchObject({ backupMode: "full", fromCheckpointId: null });
    expect(next.point.toCheckpointId).toBeTruthy();
    expect(next.point.toCheckpointId).not.toBe(checkpointId);
    expect(next.point.disks.every((d) => d.backupMode === "full")).toBe(true);
    expect(next.summary).toMatchObject({ mode: "full", fromCheckpointId: null });
    const messages = (await eventsOf(s, next.jobId)).map((e) => `${e.level} ${e.message}`);
    expect(messages.join("\n")).toMatch(
      new RegExp(`warn checkpoint ${checkpointId} is missing on the engine: full backup`),
    );
    expectEngineClean(vm.id);

    await expectRestoresTo(next.point.id, "db01-after-fallback", want);
  }, 240_000);

  it("takes a full backup when asked despite a usable checkpoint, then an incremental when asked; an incremental without any checkpoint is a full one, said in an event", async () => {
    const vm = simVm("web01");
    const full = await backupJob("web01", "full");
    expect(full.point).toMatchObject({ backupMode: "full", fromCheckpointId: null });
    expect(full.point.disks.every((d) => d.backupMode === "full")).toBe(true);
    const inc = await backupJob("web01", "incremental");
    expect(inc.point).toMatchObject({
      backupMode: "incremental",
      fromCheckpointId: full.point.toCheckpointId,
    });
    expectEngineClean(vm.id);

    const app = simVm("app01");
    const first = await backupJob("app01", "incremental");
    expect(first.point).toMatchObject({ kind: "incremental", backupMode: "full", fromCheckpointId: null });
    const messages = (await eventsOf(s, first.jobId)).map((e) => `${e.level} ${e.message}`);
    expect(messages.join("\n")).toMatch(
      /warn an incremental backup was asked, but no restore point of app01 has an engine checkpoint to start from: full backup/,
    );
    expectEngineClean(app.id);
  }, 240_000);
});
