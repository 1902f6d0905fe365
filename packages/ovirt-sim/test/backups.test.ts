import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  backupDisks,
  backupTransfer,
  dirtyRanges,
  extents,
  finalizeBackup,
  guestSha,
  KiB64,
  readBackupDisk,
  startBackup,
  ticketSha,
  waitReady,
  writeRegions,
} from "./support/backups";
import { addDisk, finalize, waitPhase } from "./support/flows";
import { io, type Json, startTestSim, type TestSim } from "./support/sim";

let t: TestSim;

beforeAll(async () => {
  t = await startTestSim();
});
afterAll(async () => {
  await t.stop();
});

async function vmDisks(name: string): Promise<{ vm: Json; disks: Json[] }> {
  const vm = await t.api.vmByName(name);
  const atts = await t.api.ok(`/vms/${vm.id}/diskattachments?follow=disk`);
  return { vm, disks: atts.disk_attachment.map((a: Json) => a.disk) };
}

/** A full backup of every disk, read and finalized: returns its checkpoint. */
async function fullBackup(vmId: string, query = ""): Promise<string> {
  const b = await startBackup(t.api, vmId, {}, query);
  await waitReady(t.api, vmId, b.id);
  const done = await finalizeBackup(t.api, vmId, b.id);
  expect(done.phase).toBe("succeeded");
  return done.to_checkpoint_id;
}

describe("clusters", () => {
  it("shows the compatibility level as the engine does, default 4.7, and follows a change", async () => {
    const { vm } = await vmDisks("web01");
    const c = await t.api.ok(`/clusters/${vm.cluster.id}`);
    expect(c.version).toEqual({ major: "4", minor: "7" });
    t.sim.setClusterLevel("Default", "4.8");
    expect((await t.api.ok(`/clusters/${vm.cluster.id}`)).version).toEqual({ major: "4", minor: "8" });
    t.sim.setClusterLevel("Default", "4.7");
  });
});

describe("hybrid backup (cluster level 4.7)", () => {
  it("runs initializing → ready on an 'Auto-generated for Backup VM' snapshot, serves the guest view at the start even while the guest writes, and removes the snapshot on finalize", async () => {
    const { vm, disks } = await vmDisks("web01");
    const disk = disks[0];
    const size = Number(disk.provisioned_size);
    const before = await guestSha(t.sim, disk.id, size);
    const b = await startBackup(t.api, vm.id, { disks: { disk: [{ id: disk.id }] } });
    expect(b.phase).toBe("initializing");
    const { backup, seen } = await waitReady(t.api, vm.id, b.id);
    expect(seen).toEqual(["initializing", "starting", "ready"]);
    expect(backup.to_checkpoint_id).toMatch(/^[0-9a-f-]{36}$/);
    const snap = await t.api.ok(`/vms/${vm.id}/snapshots/${backup.snapshot.id}`);
    expect(snap.description).toBe("Auto-generated for Backup VM");
    expect(await backupDisks(t.api, vm.id, b.id)).toEqual({ [disk.id]: "full" });
    expect((await t.api.ok(`/disks/${disk.id}`)).status).toBe("locked");

    // The guest keeps writing: the backup still reads the start point.
    await t.sim.guest.write("web01", 3, { diskId: disk.id, seed: 7 });
    await t.sim.guest.writeAt(disk.id, 0, randomBytes(KiB64));
    const tr = await backupTransfer(t.api, b.id, disk.id);
    expect(tr.format).toBe("raw");
    expect(tr.backup).toEqual({ id: b.id });
    const options = JSON.parse((await io(t.api.agent, "OPTIONS", tr.transfer_url)).body.toString());
    expect(options.max_readers).toBe(8);
    expect((await extents(t.api, tr.transfer_url, "dirty")).status).toBe(404);
    expect(await ticketSha(t.api, tr.transfer_url)).toBe(before);

    // Finalize is refused while the transfer is open, in the engine's words.
    const refused = await t.api.post(`/vms/${vm.id}/backups/${b.id}/finalize`, {});
    expect(refused.status).toBe(409);
    expect(refused.json.detail).toMatch(/Cannot stop VM Backup\. The backup has image transfers in progress/);
    await finalize(t.api, tr.id);
    const done = await finalizeBackup(t.api, vm.id, b.id);
    expect(done.phase).toBe("succeeded");
    await t.api.waitFor(`/vms/${vm.id}/snapshots/${backup.snapshot.id}`, (_j, status) => status === 404);
    expect((await t.api.ok(`/disks/${disk.id}`)).status).toBe("ok");
    const cp = await t.api.ok(`/vms/${vm.id}/checkpoints/${backup.to_checkpoint_id}`);
    expect(cp.state).toBe("created");
    // The guest's writes during the backup are on the disk after the merge.
    expect(await guestSha(t.sim, disk.id, size)).not.toBe(before);
  });

  it("an incremental backup's dirty extents are exactly the regions the guest wrote since the checkpoint, and the data is the guest view at the start", async () => {
    const { vm, disks } = await vmDisks("web01");
    const disk = disks[0];
    const size = Number(disk.provisioned_size);
    const from = await fullBackup(vm.id);
    const written = await writeRegions(t.sim, disk.id, size, 12);
    const at = await guestSha(t.sim, disk.id, size);
    const r = written[0] as [number, number];
    const first = await t.sim.guest.read(disk.id, r[0], r[1] - r[0]);
    const b = await startBackup(t.api, vm.id, {
      from_checkpoint_id: from,
      disks: { disk: [{ id: disk.id }] },
    });
    const { backup } = await waitReady(t.api, vm.id, b.id);
    expect(backup.from_checkpoint_id).toBe(from);
    expect(await backupDisks(t.api, vm.id, b.id)).toEqual({ [disk.id]: "incremental" });
    await writeRegions(t.sim, disk.id, size, 5); // after the start: neither in the data nor in the dirty map
    const tr = await backupTransfer(t.api, b.id, disk.id);
    const dirty = await extents(t.api, tr.transfer_url, "dirty");
    expect(dirty.status).toBe(200);
    // Contiguous over [0, size), merged, and exactly the written regions.
    let next = 0;
    for (const [i, e] of dirty.list.entries()) {
      expect(e.start).toBe(next);
      next = e.start + e.length;
      const prev = dirty.list[i - 1];
      if (prev) expect(prev.dirty !== e.dirty || prev.zero !== e.zero).toBe(true);
    }
    expect(next).toBe(size);
    expect(dirtyRanges(dirty.list)).toEqual(written);
    // What the dirty extents read is the guest data at the start.
    const got = await io(t.api.agent, "GET", tr.transfer_url, {
      headers: { range: `bytes=${r[0]}-${r[1] - 1}` },
    });
    expect(got.body.equals(first)).toBe(true);
    expect(await ticketSha(t.api, tr.transfer_url)).toBe(at);
    await finalize(t.api, tr.id);
    const done = await finalizeBackup(t.api, vm.id, b.id);
    const cps = await t.api.ok(`/vms/${vm.id}/checkpoints`);
    const ids = cps.checkpoint.map((c: Json) => c.id);
    expect(ids.slice(-2)).toEqual([from, done.to_checkpoint_id]);
    expect(cps.checkpoint[cps.checkpoint.length - 1].parent_id).toBe(from);
  });
});

describe("live backup (legacy, or cluster level below 4.7)", () => {
  for (const [label, query, level] of [
    ["?legacy=true at 4.7", "?legacy=true", "4.7"],
    ["cluster level 4.6", "", "4.6"],
  ] as const) {
    it(`${label}: no snapshot, a scratch copy on the storage domain that the guest's writes do not touch`, async () => {
      t.sim.setClusterLevel("Default", level);
      try {
        const { vm, disks } = await vmDisks("db01");
        const before = await Promise.all(disks.map((d) => guestSha(t.sim, d.id, Number(d.provisioned_size))));
        const snapsBefore = (await t.api.ok(`/vms/${vm.id}/snapshots`)).snapshot.length;
        const b = await startBackup(t.api, vm.id, {}, query);
        const { backup } = await waitReady(t.api, vm.id, b.id);
        expect(backup.snapshot).toBeUndefined();
        expect((await t.api.ok(`/vms/${vm.id}/snapshots`)).snapshot.length).toBe(snapsBefore);
        const scratchDir = path.join(
          t.dir,
          "images",
          disks[0].storage_domains.storage_domain[0].id,
          "scratch",
        );
        expect(readdirSync(scratchDir).length).toBe(disks.length);
        await t.sim.guest.write("db01", 4, { seed: 11 });
        for (const [i, d] of disks.entries()) expect(await readBackupDisk(t.api, b.id, d.id)).toBe(before[i]);
        await finalizeBackup(t.api, vm.id, b.id);
        expect(readdirSync(scratchDir)).toEqual([]);
        expect(existsSync(scratchDir)).toBe(true);
      } finally {
        t.sim.setClusterLevel("Default", "4.7");
      }
    });
  }

  it("cluster level 4.4: a full backup without a checkpoint; from_checkpoint_id is refused in the engine's words", async () => {
    const { vm } = await vmDisks("app01");
    t.sim.setClusterLevel("Default", "4.4");
    try {
      const b = await startBackup(t.api, vm.id);
      const { backup } = await waitReady(t.api, vm.id, b.id);
      expect(backup.to_checkpoint_id).toBeUndefined();
      expect(backup.snapshot).toBeUndefined();
      await finalizeBackup(t.api, vm.id, b.id);
      const inc = await t.api.post(`/vms/${vm.id}/backups`, {
        from_checkpoint_id: "c1c1c1c1-0000-4000-8000-0000000000c1",
      });
      expect(inc.status).toBe(409);
      expect(inc.json.detail).toBe(
        "[Cannot backup VM. Incremental backup is not supported in cluster compatibility version 4.4.]",
      );
    } finally {
      t.sim.setClusterLevel("Default", "4.7");
    }
  });
});

describe("the engine's rules during a backup", () => {
  it("one backup per VM; snapshots and disk operations refused while it runs", async () => {
    const { vm, disks } = await vmDisks("app01");
    const b = await startBackup(t.api, vm.id);
    await waitReady(t.api, vm.id, b.id);
    const words = (a: Json) => [a.status, a.json.detail];
    expect(words(await t.api.post(`/vms/${vm.id}/backups`, {}))).toEqual([
      409,
      "[Cannot backup VM. The VM is during a backup operation.]",
    ]);
    expect(words(await t.api.post(`/vms/${vm.id}/snapshots`, { description: "x" }))).toEqual([
      409,
      "[Cannot create Snapshot. The VM is during a backup operation.]",
    ]);
    const regular = (await t.api.ok(`/vms/${vm.id}/snapshots`)).snapshot.find(
      (s: Json) => s.snapshot_type === "regular",
    );
    expect(words(await t.api.del(`/vms/${vm.id}/snapshots/${regular.id}`))).toEqual([
      409,
      "[Cannot remove Snapshot. The VM is during a backup operation.]",
    ]);
    expect(words(await t.api.del(`/vms/${vm.id}/diskattachments/${disks[0].id}`))).toEqual([
      409,
      "[Cannot detach Virtual Disk. The VM is during a backup operation.]",
    ]);
    expect(
      words(await t.api.post("/imagetransfers", { direction: "download", disk: { id: disks[0].id } })),
    ).toEqual([409, "[Cannot transfer Virtual Disk. The VM is during a backup operation.]"]);
    await finalizeBackup(t.api, vm.id, b.id);
    expect((await t.api.get(`/vms/${vm.id}/backups/${b.id}`)).json.phase).toBe("succeeded");
  });

  it("backup_mode full for a raw disk and for a disk whose bitmap vanished; the next checkpoint is incremental again", async () => {
    const { vm, disks } = await vmDisks("db01");
    const [cow, raw] = disks;
    const from = await fullBackup(vm.id);
    t.sim.faults.damageCheckpoint({ effect: "bitmap_lost", vmId: vm.id, diskId: cow.id, checkpointId: from });
    const b = await startBackup(t.api, vm.id, { from_checkpoint_id: from });
    await waitReady(t.api, vm.id, b.id);
    expect(await backupDisks(t.api, vm.id, b.id)).toEqual({ [cow.id]: "full", [raw.id]: "full" });
    const tr = await backupTransfer(t.api, b.id, cow.id);
    expect((await extents(t.api, tr.transfer_url, "dirty")).status).toBe(404);
    await finalize(t.api, tr.id);
    const done = await finalizeBackup(t.api, vm.id, b.id);
    // The new checkpoint has a bitmap again: the next incremental is incremental.
    const next = await startBackup(t.api, vm.id, { from_checkpoint_id: done.to_checkpoint_id });
    await waitReady(t.api, vm.id, next.id);
    expect(await backupDisks(t.api, vm.id, next.id)).toEqual({ [cow.id]: "incremental", [raw.id]: "full" });
    await finalizeBackup(t.api, vm.id, next.id);
  });
});

describe("checkpoints", () => {
  it("a removed-checkpoint fault: the checkpoint is still listed until an incremental from it starts, which answers 404", async () => {
    const { vm } = await vmDisks("web01");
    const from = await fullBackup(vm.id);
    t.sim.faults.damageCheckpoint({ effect: "removed", vmId: vm.id });
    // Looking at it does not set the fault off...
    expect((await t.api.ok(`/vms/${vm.id}/checkpoints/${from}`)).state).toBe("created");
    // ...the incremental's start does: 404, and the checkpoint is gone.
    const refused = await t.api.post(`/vms/${vm.id}/backups`, { from_checkpoint_id: from });
    expect([refused.status, refused.json.detail]).toEqual([404, `Entity not found: ${from}`]);
    expect((await t.api.get(`/vms/${vm.id}/checkpoints/${from}`)).status).toBe(404);
    expect(t.sim.faults.list()).toEqual([]);
    // Then it is an ordinary missing checkpoint: 409, and a full backup goes.
    const again = await t.api.post(`/vms/${vm.id}/backups`, { from_checkpoint_id: from });
    expect([again.status, again.json.detail]).toEqual([
      409,
      `[Cannot backup VM. Checkpoint ${from} does not exist.]`,
    ]);
    await fullBackup(vm.id);
  });

  it("a disk added after the checkpoint is backed up in full; detaching it invalidates the checkpoints over it", async () => {
    const { vm } = await vmDisks("web01");
    const from = await fullBackup(vm.id);
    const added = await addDisk(t.api, {
      name: "web01_added",
      provisioned_size: String(16 * 1024 * 1024),
      format: "cow",
      backup: "incremental",
      storage_domains: { storage_domain: [{ name: "data1" }] },
    });
    const att = await t.api.post(`/vms/${vm.id}/diskattachments`, {
      disk: { id: added.id },
      interface: "virtio",
      active: "true",
    });
    expect(att.status).toBe(201);
    const b = await startBackup(t.api, vm.id, { from_checkpoint_id: from });
    await waitReady(t.api, vm.id, b.id);
    const modes = await backupDisks(t.api, vm.id, b.id);
    expect(modes[added.id]).toBe("full");
    expect(Object.values(modes).filter((m) => m === "incremental")).toHaveLength(1);
    const done = await finalizeBackup(t.api, vm.id, b.id);
    expect((await t.api.del(`/vms/${vm.id}/diskattachments/${added.id}`)).status).toBe(200);
    expect((await t.api.ok(`/vms/${vm.id}/checkpoints/${done.to_checkpoint_id}`)).state).toBe("invalid");
    expect((await t.api.ok(`/vms/${vm.id}/checkpoints/${from}`)).state).toBe("created");
  });

  it("lists oldest first by parent_id; only the root can be removed", async () => {
    const { vm } = await vmDisks("web01");
    const list = (await t.api.ok(`/vms/${vm.id}/checkpoints`)).checkpoint as Json[];
    expect(list.length).toBeGreaterThanOrEqual(2);
    expect(list[0].parent_id).toBeUndefined();
    for (let i = 1; i < list.length; i++) expect(list[i].parent_id).toBe(list[i - 1].id);
    const last = list[list.length - 1];
    const refused = await t.api.del(`/vms/${vm.id}/checkpoints/${last.id}`);
    expect(refused.status).toBe(409);
    expect(refused.json.detail).toMatch(/is not the root checkpoint/);
    expect((await t.api.del(`/vms/${vm.id}/checkpoints/${list[0].id}`)).status).toBe(200);
    const after = (await t.api.ok(`/vms/${vm.id}/checkpoints`)).checkpoint as Json[];
    expect(after.map((c) => c.id)).toEqual(list.slice(1).map((c) => c.id));
    expect(after[0].parent_id).toBeUndefined();
  });

  it("a checkpoint turned invalid refuses incremental backups from it; a host crash invalidates them all", async () => {
    const { vm } = await vmDisks("web01");
    const cp = await fullBackup(vm.id);
    t.sim.faults.damageCheckpoint({ effect: "invalid", vmId: vm.id });
    expect((await t.api.ok(`/vms/${vm.id}/checkpoints/${cp}`)).state).toBe("invalid");
    const refused = await t.api.post(`/vms/${vm.id}/backups`, { from_checkpoint_id: cp });
    expect(refused.status).toBe(409);
    expect(refused.json.detail).toBe(
      `[Cannot backup VM. Checkpoint ${cp} is invalid, a full backup is required.]`,
    );
    const fresh = await fullBackup(vm.id);
    t.sim.faults.damageCheckpoint({ effect: "host_crash", vmId: "web01" });
    const states = ((await t.api.ok(`/vms/${vm.id}/checkpoints`)).checkpoint as Json[]).map((c) => c.state);
    expect(new Set(states)).toEqual(new Set(["invalid"]));
    expect((await t.api.post(`/vms/${vm.id}/backups`, { from_checkpoint_id: fresh })).status).toBe(409);
  });
});

describe("backup faults", () => {
  it("finalize stuck in finalizing until the fault is cleared", async () => {
    const { vm } = await vmDisks("app01");
    const b = await startBackup(t.api, vm.id);
    await waitReady(t.api, vm.id, b.id);
    const hold = t.sim.faults.holdBackup({ phase: "finalizing", backupId: b.id });
    expect((await t.api.post(`/vms/${vm.id}/backups/${b.id}/finalize`, {})).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect((await t.api.ok(`/vms/${vm.id}/backups/${b.id}`)).phase).toBe("finalizing");
    expect((await t.api.post(`/vms/${vm.id}/backups`, {})).status).toBe(409);
    hold.remove();
    await t.api.waitFor(`/vms/${vm.id}/backups/${b.id}`, (j) => j.phase === "succeeded");
  });

  it("the hybrid snapshot's removal fails once: the backup succeeds, the snapshot stays as a leftover, the engine logs it", async () => {
    const { vm } = await vmDisks("app01");
    t.sim.faults.failOperation("backups.snapshot.remove", { status: 500 });
    const b = await startBackup(t.api, vm.id);
    const { backup } = await waitReady(t.api, vm.id, b.id);
    expect((await finalizeBackup(t.api, vm.id, b.id)).phase).toBe("succeeded");
    const snap = await t.api.ok(`/vms/${vm.id}/snapshots/${backup.snapshot.id}`);
    expect(snap.description).toBe("Auto-generated for Backup VM");
    expect(snap.snapshot_status).toBe("ok");
    const events = t.sim.state.events().filter((e) => e.description.includes("may be left over"));
    expect(events.length).toBe(1);
    // The next backup's snapshot is removed normally.
    const again = await startBackup(t.api, vm.id);
    const r = await waitReady(t.api, vm.id, again.id);
    await finalizeBackup(t.api, vm.id, again.id);
    await t.api.waitFor(`/vms/${vm.id}/snapshots/${r.backup.snapshot.id}`, (_j, status) => status === 404);
  });

  it("slow extents delay the extents answer only; an idle backup ticket expires (inactivity timeout)", async () => {
    const { vm, disks } = await vmDisks("app01");
    const b = await startBackup(t.api, vm.id);
    await waitReady(t.api, vm.id, b.id);
    const tr = await backupTransfer(t.api, b.id, disks[0].id, { inactivity_timeout: "1" });
    t.sim.faults.addLatency({ ms: 200, target: "imageio", op: "images.extents", times: 1 });
    expect((await extents(t.api, tr.transfer_url, "zero")).status).toBe(200);
    expect(t.sim.faults.list().filter((f) => f.kind === "latency")).toEqual([]);
    await waitPhase(t.api, tr.id, ["finished_failure"]);
    const gone = await io(t.api.agent, "GET", tr.transfer_url, { headers: { range: "bytes=0-511" } });
    expect(gone.status).toBe(403);
    await finalizeBackup(t.api, vm.id, b.id);
  });
});

describe("pre-4.4.7 engine", () => {
  it("the backup entity vanishes (404) after finalize", async () => {
    const old = await startTestSim({ legacyBackupRemoval: true });
    try {
      const vm = await old.api.vmByName("web01");
      const b = await startBackup(old.api, vm.id);
      await waitReady(old.api, vm.id, b.id);
      expect((await old.api.post(`/vms/${vm.id}/backups/${b.id}/finalize`, {})).status).toBe(200);
      await old.api.waitFor(`/vms/${vm.id}/backups/${b.id}`, (_j, status) => status === 404);
      expect((await old.api.ok(`/vms/${vm.id}/checkpoints`)).checkpoint).toHaveLength(1);
    } finally {
      await old.stop();
    }
  });
});
