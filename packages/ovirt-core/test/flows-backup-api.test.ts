import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Repository } from "@lifeboat/repository";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BackupApiResult,
  backupVmWithBackupApi,
  FlowError,
  previousBackupPoint,
  restoreDisk,
  restoreVm,
} from "../src/flows";
import { engineLeftovers, type FlowHarness, guestOf, startHarness } from "./flows-support/harness";

/**
 * Backups through the engine's backup API against the simulator over real HTTP: a full, guest writes, an
 * incremental that reads only the dirty extents; each point restores to the guest data of its moment.
 */
let h: FlowHarness;
beforeAll(async () => {
  h = await startHarness();
  h.sim.setClusterLevel("Default", "4.7");
}, 60_000);
afterAll(async () => {
  await h?.stop();
}, 60_000);

const KiB64 = 64 * 1024;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function vmOf(name: string) {
  const vm = h.sim.state.vm(name);
  if (!vm) throw new Error(`no VM ${name}`);
  return vm;
}

async function backup(name: string, repository: Repository, abort?: AbortController) {
  const vm = vmOf(name);
  const hooks = h.hooks(abort?.signal);
  const r: BackupApiResult = await backupVmWithBackupApi({
    ...hooks,
    engine: h.engine,
    imageio: h.imageio,
    vmId: vm.id,
    repository,
    restorePointId: randomUUID(),
    jobRef: `test-${randomUUID().slice(0, 8)}`,
    previous: await previousBackupPoint(repository, vm.id),
    // Cut short once guest data flows: the transfer and the backup are both open then.
    onProgress: (p) => {
      if (p.phase === "download" && p.bytesDone > 0) abort?.abort();
    },
  });
  return { ...r, events: hooks.events, records: hooks.records };
}

/** `count` writes of `size` bytes at random offsets (some unaligned to the chunk size). */
async function guestWrites(diskId: string, diskSize: number, count: number, size: number) {
  for (let i = 0; i < count; i++) {
    const offset = Math.floor(Math.random() * ((diskSize - size) / 512)) * 512;
    await h.sim.guest.writeAt(diskId, offset, randomBytes(size));
  }
}

async function restoredSha(repository: Repository, pointId: string, diskId: string, format: "cow" | "raw") {
  const restorePoint = await repository.readRestorePoint(pointId);
  const r = await restoreDisk({
    engine: h.engine,
    imageio: h.imageio,
    repository,
    restorePoint,
    diskId,
    target: { alias: `restored-${randomUUID().slice(0, 8)}`, format },
  });
  const data = await guestOf(h.sim, r.diskId);
  return sha(data);
}

describe("backup through the backup API", () => {
  it("full, then an incremental of only the written extents; each point restores to the guest data of its moment", async () => {
    const repo = await h.newRepository("api-roundtrip");
    const vm = vmOf("web01");
    const diskId = vm.attachments[0]?.diskId as string;
    const size = h.sim.state.disk(diskId)?.provisionedSize as number;

    const full = await backup("web01", repo);
    const atFull = sha(await guestOf(h.sim, diskId));
    expect(full.mode).toBe("full");
    expect(full.disks[0]).toMatchObject({ mode: "full", changedBytes: size });
    expect(full.checkpointId).toBeDefined();
    expect(full.restorePoint).toMatchObject({ mode: "full", checkpointId: full.checkpointId });

    const writes = 8;
    await guestWrites(diskId, size, writes, 100 * 1024);
    const atInc = sha(await guestOf(h.sim, diskId));
    const inc = await backup("web01", repo);
    expect(inc.mode).toBe("incremental");
    const d = inc.disks[0];
    expect(d?.mode).toBe("incremental");
    // What the guest wrote, rounded up to the 64 KiB granularity of the bitmaps at each end of each write.
    expect(d?.transferredBytes).toBeGreaterThan(0);
    expect(d?.transferredBytes).toBeLessThanOrEqual(writes * (100 * 1024 + 2 * KiB64));
    expect(inc.restorePoint).toMatchObject({ mode: "incremental", checkpointId: inc.checkpointId });
    expect(inc.checkpointId).not.toBe(full.checkpointId);
    expect(full.fromCheckpointId).toBeUndefined();
    expect(inc.fromCheckpointId).toBe(full.checkpointId);
    expect(inc.restorePoint.disks[0]).toMatchObject({ mode: "incremental" });
    expect(engineLeftovers(h.sim)).toEqual([]);
    expect(h.sim.state.backups(vm.id).filter((b) => b.phase !== "succeeded")).toEqual([]);

    // Every point is complete by itself: prune the full one, gc, and both the layer and the restore hold.
    await repo.deleteRestorePoint(full.restorePoint.id);
    await repo.gc({ graceMs: 0 });
    expect(await restoredSha(repo, inc.restorePoint.id, diskId, "cow")).toBe(atInc);
    expect(atFull).not.toBe(atInc);
  }, 120_000);

  it("ten incrementals in a row, then the oldest points pruned: every remaining point restores to its moment and verify passes", async () => {
    const repo = await h.newRepository("api-ten");
    const vm = vmOf("web01");
    const diskId = vm.attachments[0]?.diskId as string;
    const size = h.sim.state.disk(diskId)?.provisionedSize as number;
    const points: Array<{ id: string; sha: string }> = [];
    const first = await backup("web01", repo);
    points.push({ id: first.restorePoint.id, sha: sha(await guestOf(h.sim, diskId)) });
    for (let i = 0; i < 10; i++) {
      await guestWrites(diskId, size, 3, 64 * 1024 + 512 * i);
      const r = await backup("web01", repo);
      expect(r.mode).toBe("incremental");
      points.push({ id: r.restorePoint.id, sha: sha(await guestOf(h.sim, diskId)) });
    }
    // Prune the full point and the five incrementals after it, then collect the garbage.
    for (const p of points.splice(0, 6)) expect(await repo.deleteRestorePoint(p.id)).toBe(true);
    const gc = await repo.gc({ graceMs: 0 });
    expect(gc.deletedChunks).toBeGreaterThan(0);
    expect((await repo.verify()).ok).toBe(true);
    for (const p of points) expect(await restoredSha(repo, p.id, diskId, "cow")).toBe(p.sha);
    expect(new Set(points.map((p) => p.sha)).size).toBe(points.length);
    expect(engineLeftovers(h.sim)).toEqual([]);
  }, 240_000);

  it("falls back to a full backup when the checkpoint turned invalid, and says so", async () => {
    const repo = await h.newRepository("api-invalid");
    const vm = vmOf("db01");
    await backup("db01", repo);
    h.sim.faults.damageCheckpoint({ effect: "invalid", vmId: vm.id });
    const next = await backup("db01", repo);
    expect(next.mode).toBe("full");
    expect(next.fromCheckpointId).toBeUndefined();
    expect(next.disks.every((x) => x.mode === "full")).toBe(true);
    expect(next.events.map((e) => e.message).join("\n")).toMatch(/checkpoint .* is invalid.*full backup/);
    const diskId = vm.attachments[0]?.diskId as string;
    expect(await restoredSha(repo, next.restorePoint.id, diskId, "cow")).toBe(
      sha(await guestOf(h.sim, diskId)),
    );
  }, 120_000);

  it("falls back to a full backup when the engine answers 404 because the checkpoint vanished after our look, and says why", async () => {
    const repo = await h.newRepository("api-checkpoint-404");
    const vm = vmOf("web01");
    const first = await backup("web01", repo);
    const gone = first.checkpointId as string;
    expect(gone).toBeDefined();
    // The checkpoint is still there when the flow looks at it, and gone when the backup starts: the engine
    // answers that start 404.
    h.sim.faults.damageCheckpoint({ effect: "removed", vmId: vm.id });
    const next = await backup("web01", repo);
    expect(next.mode).toBe("full");
    expect(next.fromCheckpointId).toBeUndefined();
    expect(next.disks.every((x) => x.mode === "full")).toBe(true);
    expect(next.checkpointId).toBeDefined();
    expect(next.checkpointId).not.toBe(gone);
    expect(h.sim.state.checkpoints(vm.id).map((c) => c.id)).not.toContain(gone);
    const warn = next.events.find((e) => e.level === "warn" && e.message.includes("refused an incremental"));
    expect(warn?.message).toMatch(
      new RegExp(
        `refused an incremental from checkpoint ${gone} \\(.*Entity not found.*; checkpoint ${gone} is gone from the engine\\): full backup`,
      ),
    );
    // The refused backup's id is journaled as removed, the full one as created and removed.
    const backups = next.records.filter((r) => r.kind === "backup");
    expect(backups.map((r) => r.state)).toEqual(["created", "removed", "created", "removed"]);
    expect(engineLeftovers(h.sim)).toEqual([]);
    expect(h.sim.state.backups(vm.id).filter((b) => b.phase !== "succeeded")).toEqual([]);
    const diskId = vm.attachments[0]?.diskId as string;
    expect(await restoredSha(repo, next.restorePoint.id, diskId, "cow")).toBe(
      sha(await guestOf(h.sim, diskId)),
    );

    // A 404 while the checkpoint is still there (it is not what went away) fails the backup instead.
    h.sim.faults.failOperation("backups.add", { status: 404, detail: "Entity not found: something else" });
    const err = await backup("web01", repo).catch((e) => e);
    expect(err).toBeInstanceOf(FlowError);
    expect((err as FlowError).message).toMatch(/something else/);
    expect(engineLeftovers(h.sim)).toEqual([]);
  }, 120_000);

  it("removes the hybrid backup's snapshot the engine left behind after finalizing, and says so", async () => {
    const repo = await h.newRepository("api-left-snapshot");
    const vm = vmOf("app01");
    h.sim.faults.failOperation("backups.snapshot.remove", { status: 500 });
    const r = await backup("app01", repo);
    expect(r.leftovers).toEqual([]);
    expect(r.events.map((e) => `${e.level} ${e.message}`).join("\n")).toMatch(
      /warn the engine finalized the backup but left its snapshot .* behind: removing it\ninfo removed the backup's snapshot/,
    );
    expect(
      h.sim.state
        .snapshots()
        .filter((x) => x.vmId === vm.id && x.description === "Auto-generated for Backup VM"),
    ).toEqual([]);
    expect(engineLeftovers(h.sim)).toEqual([]);
  }, 120_000);

  it("restores a backup-API point as a new VM: guest data uploaded as raw into disks of their original formats", async () => {
    const repo = await h.newRepository("api-restore-vm");
    const vm = vmOf("db01");
    const first = await backup("db01", repo);
    await guestWrites(vm.attachments[0]?.diskId as string, 64 * 1024 * 1024, 4, 70 * 1024);
    const want = new Map<string, string>();
    for (const a of vm.attachments) want.set(a.diskId, sha(await guestOf(h.sim, a.diskId)));
    const inc = await backup("db01", repo);
    expect(inc.disks.map((x) => x.mode)).toEqual(["incremental", "full"]); // the raw disk has no bitmaps
    await repo.deleteRestorePoint(first.restorePoint.id);
    await repo.gc({ graceMs: 0 });
    const r = await restoreVm({
      engine: h.engine,
      imageio: h.imageio,
      repository: repo,
      restorePoint: await repo.readRestorePoint(inc.restorePoint.id),
      target: { name: `db01-restored-${randomUUID().slice(0, 6)}` },
    });
    for (const d of r.disks) {
      expect(sha(await guestOf(h.sim, d.diskId))).toBe(want.get(d.sourceDiskId));
      const source = h.sim.state.disk(d.sourceDiskId);
      expect(h.sim.state.volumes(d.diskId)[0]?.format).toBe(
        source && h.sim.state.volumes(source.id)[0]?.format,
      );
    }
    expect(engineLeftovers(h.sim)).toEqual([]);
  }, 120_000);

  it("a failure mid-transfer leaves the engine with no active backup and no open transfer", async () => {
    const repo = await h.newRepository("api-abort");
    const vm = vmOf("web01");
    let error: unknown;
    try {
      await backup("web01", repo, new AbortController());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FlowError);
    expect((error as FlowError).step).toMatch(/^download/);
    expect((error as FlowError).aborted).toBe(true);
    expect(engineLeftovers(h.sim)).toEqual([]);
    expect(h.sim.state.backups(vm.id).filter((b) => !["succeeded", "failed"].includes(b.phase))).toEqual([]);
    expect(await repo.listRestorePoints()).toEqual([]);
  }, 120_000);
});
