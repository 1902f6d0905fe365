import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTransfer } from "./support/flows";
import { qemuInfo } from "./support/qemu";
import { type Json, startTestSim, type TestSim } from "./support/sim";

let t: TestSim;

beforeAll(async () => {
  t = await startTestSim();
});
afterAll(async () => {
  await t.stop();
});

async function disksOf(vmId: string): Promise<Json[]> {
  return (await t.api.ok(`/vms/${vmId}/diskattachments?follow=disk`)).disk_attachment.map(
    (a: Json) => a.disk,
  );
}

async function fullGuest(diskId: string): Promise<Buffer> {
  const d = t.sim.state.disk(diskId);
  return t.sim.guest.read(diskId, 0, d?.provisionedSize ?? 0);
}

describe("snapshot creation", () => {
  it("answers locked, image-locks the VM, then freezes each disk's active volume under a new empty overlay", async () => {
    const db = await t.api.vmByName("db01");
    const before = await disksOf(db.id);
    const active = (await t.api.ok(`/vms/${db.id}/snapshots`)).snapshot.find(
      (s: Json) => s.snapshot_type === "active",
    );
    const guestBefore = await fullGuest(before[0].id);
    // The engine takes only 1–50 of a-z A-Z 0-9 - _ as a correlation id: anything else is refused, nothing made.
    for (const bad of ["job%201b9e", "x".repeat(51)]) {
      const refused = await t.api.post(`/vms/${db.id}/snapshots?correlation_id=${bad}`, { description: "x" });
      expect(refused.status).toBe(400);
      expect(refused.json.detail).toMatch(/correlation ID/);
    }
    expect((await t.api.ok(`/vms/${db.id}/snapshots`)).snapshot).toHaveLength(
      t.sim.state.snapshots(db.id).length,
    );
    expect(t.sim.state.snapshots(db.id).some((s) => s.description === "x")).toBe(false);
    const add = await t.api.post(`/vms/${db.id}/snapshots?correlation_id=snap-1`, {
      description: "nightly",
      persist_memorystate: "false",
    });
    expect(add.status).toBe(201);
    expect(add.json.snapshot_status).toBe("locked");
    expect(add.headers.location).toBe(`/ovirt-engine/api/vms/${db.id}/snapshots/${add.json.id}`);
    // The new REGULAR snapshot takes over the id of the ACTIVE record.
    expect(add.json.id).toBe(active.id);
    expect((await t.api.ok(`/vms/${db.id}`)).status).toBe("image_locked");
    expect((await t.api.ok(`/disks/${before[0].id}`)).status).toBe("locked");
    // No OVF while a disk is locked.
    expect((await t.api.ok(`/vms/${db.id}?all_content=true`)).initialization).toBeUndefined();
    const locked = await t.api.post(`/vms/${db.id}/snapshots`, { description: "again" });
    expect(locked.status).toBe(409);
    expect(locked.json.detail).toMatch(/VM is locked/);
    await t.api.waitFor(`/vms/${db.id}/snapshots/${add.json.id}`, (j) => j.snapshot_status === "ok");
    expect((await t.api.ok(`/vms/${db.id}`)).status).toBe("down");
    const jobs = await t.api.ok("/jobs?search=correlation_id%3Dsnap-1");
    expect(jobs.job[0].status).toBe("finished");
    const after = await disksOf(db.id);
    for (const [i, d] of after.entries()) {
      expect(d.status).toBe("ok");
      expect(d.image_id).not.toBe(before[i].image_id);
      expect(d.format).toBe("cow");
      const vols = t.sim.state.volumes(d.id);
      const top = vols[vols.length - 1];
      expect(top?.parentId).toBe(before[i].image_id);
      const info = await qemuInfo(top?.path as string);
      expect(info["backing-filename"]).toBe(before[i].image_id);
      expect(info["backing-filename-format"]).toBe(before[i].format === "cow" ? "qcow2" : "raw");
    }
    expect((await fullGuest(after[0].id)).equals(guestBefore)).toBe(true);
    const snap = await t.api.ok(`/vms/${db.id}/snapshots/${add.json.id}?all_content=true`);
    expect(snap.initialization.configuration.data).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?><ovf:Envelope/,
    );
  });

  it("names the new active volume after disk_attachments[].disk.image_id, only for the disks listed", async () => {
    const db = await t.api.vmByName("db01");
    const [d1, d2] = await disksOf(db.id);
    const imageId = "5eed0000-0000-4000-8000-00000000abcd";
    const add = await t.api.post(`/vms/${db.id}/snapshots`, {
      description: "one disk",
      persist_memorystate: "false",
      disk_attachments: { disk_attachment: [{ disk: { id: d1.id, image_id: imageId } }] },
    });
    expect(add.status).toBe(201);
    await t.api.waitFor(`/vms/${db.id}/snapshots/${add.json.id}`, (j) => j.snapshot_status === "ok");
    expect((await t.api.ok(`/disks/${d1.id}`)).image_id).toBe(imageId);
    expect((await t.api.ok(`/disks/${d2.id}`)).image_id).toBe(d2.image_id);
    const clash = await t.api.post(`/vms/${db.id}/snapshots`, {
      description: "clash",
      disk_attachments: { disk_attachment: [{ disk: { id: d1.id, image_id: imageId } }] },
    });
    expect(clash.status).toBe(409);
  });

  it("rolls a failed snapshot back: it vanishes and the VM is unlocked", async () => {
    const web = await t.api.vmByName("web01");
    t.sim.faults.failOperation("snapshots.add.async", { status: 500 });
    const add = await t.api.post(`/vms/${web.id}/snapshots`, {
      description: "doomed",
      persist_memorystate: "false",
    });
    expect(add.status).toBe(201);
    await t.api.waitFor(`/vms/${web.id}/snapshots/${add.json.id}`, (_j, status) => status === 404);
    expect((await t.api.ok(`/vms/${web.id}`)).status).toBe("up");
    const snaps = (await t.api.ok(`/vms/${web.id}/snapshots`)).snapshot;
    expect(snaps.map((s: Json) => s.snapshot_type)).toEqual(["active"]);
    const [disk] = await disksOf(web.id);
    expect(disk.status).toBe("ok");
    expect(t.sim.state.volumes(disk.id)).toHaveLength(1);
  });
});

describe("snapshot removal (merge)", () => {
  it("merges the child into the removed snapshot's volume: guest data unchanged, the volume id survives", async () => {
    const app = await t.api.vmByName("app01");
    const [disk] = await disksOf(app.id);
    const snaps = (await t.api.ok(`/vms/${app.id}/snapshots`)).snapshot.filter(
      (s: Json) => s.snapshot_type === "regular",
    );
    const first = snaps.find((s: Json) => s.description === "before-upgrade");
    const vols = t.sim.state.volumes(disk.id);
    expect(vols).toHaveLength(3);
    const [base, mid, top] = vols;
    const guest = await fullGuest(disk.id);
    const del = await t.api.del(`/vms/${app.id}/snapshots/${first.id}?correlation_id=merge-1`);
    expect(del.status).toBe(200);
    expect((await t.api.ok(`/vms/${app.id}/snapshots/${first.id}`)).snapshot_status).toBe("locked");
    await t.api.waitFor(`/vms/${app.id}/snapshots/${first.id}`, (_j, status) => status === 404);
    const after = t.sim.state.volumes(disk.id);
    expect(after.map((v) => v.id)).toEqual([base?.id, top?.id]);
    expect(after[0]?.snapshotId).toBe(mid?.snapshotId);
    expect(after[1]?.parentId).toBe(base?.id);
    expect((await qemuInfo(after[1]?.path as string))["backing-filename"]).toBe(base?.id);
    expect((await fullGuest(disk.id)).equals(guest)).toBe(true);
    expect((await t.api.ok(`/disks/${disk.id}`)).status).toBe("ok");

    // Removing the last regular snapshot merges the active volume into its parent: the parent's id becomes
    // the disk's image_id.
    const second = snaps.find((s: Json) => s.description === "after-upgrade");
    expect((await t.api.del(`/vms/${app.id}/snapshots/${second.id}`)).status).toBe(200);
    await t.api.waitFor(`/vms/${app.id}/snapshots/${second.id}`, (_j, status) => status === 404);
    const last = t.sim.state.volumes(disk.id);
    expect(last.map((v) => v.id)).toEqual([base?.id]);
    expect((await t.api.ok(`/disks/${disk.id}`)).image_id).toBe(base?.id);
    expect((await fullGuest(disk.id)).equals(guest)).toBe(true);
    const ovf = (await t.api.ok(`/vms/${app.id}?all_content=true`)).initialization.configuration
      .data as string;
    expect(ovf.match(/<File /g)).toHaveLength(1);
  });

  it("refuses to remove a snapshot while a transfer holds its disk, and the active snapshot at all", async () => {
    const db = await t.api.vmByName("db01");
    const [disk] = await disksOf(db.id);
    const snaps = (await t.api.ok(`/vms/${db.id}/snapshots`)).snapshot;
    const regular = snaps.find((s: Json) => s.snapshot_type === "regular");
    const active = snaps.find((s: Json) => s.snapshot_type === "active");
    const tr = await startTransfer(t.api, { direction: "download", disk: { id: disk.id } });
    const del = await t.api.del(`/vms/${db.id}/snapshots/${regular.id}`);
    expect(del.status).toBe(409);
    expect(del.json).toEqual({
      reason: "Operation Failed",
      detail: `[Cannot remove Snapshot. Disk ${disk.alias} is being transferred.]`,
    });
    const snapWhileTransfer = await t.api.post(`/vms/${db.id}/snapshots`, { description: "x" });
    expect(snapWhileTransfer.status).toBe(409);
    expect(snapWhileTransfer.json.detail).toBe(
      `[Cannot create Snapshot. Disk ${disk.alias} is being transferred.]`,
    );
    await t.api.post(`/imagetransfers/${tr.id}/cancel`, {});
    await t.api.waitFor(`/disks/${disk.id}`, (j) => j.status === "ok");
    expect((await t.api.del(`/vms/${db.id}/snapshots/${active.id}`)).status).toBe(409);
  });

  it("keeps guest writes made between snapshots through a merge", async () => {
    const web = await t.api.vmByName("web01");
    const [disk] = await disksOf(web.id);
    const add = await t.api.post(`/vms/${web.id}/snapshots`, {
      description: "pre-write",
      persist_memorystate: "false",
    });
    await t.api.waitFor(`/vms/${web.id}/snapshots/${add.json.id}`, (j) => j.snapshot_status === "ok");
    const w = await t.sim.guest.write("web01", 3, { seed: 42 });
    expect(w.bytes).toBe(3 * 1024 * 1024);
    const range = w.disks[0]?.ranges[0];
    const marker = (await t.sim.guest.read(disk.id, range?.offset ?? 0, 64)).toString("latin1");
    expect(marker).toMatch(/^LIFEBOAT-SIM vm=web01 disk=web01_Disk1 offset=0x/);
    const guest = await fullGuest(disk.id);
    await t.api.del(`/vms/${web.id}/snapshots/${add.json.id}`);
    await t.api.waitFor(`/vms/${web.id}/snapshots/${add.json.id}`, (_j, status) => status === 404);
    expect((await fullGuest(disk.id)).equals(guest)).toBe(true);
  });

  it("merges an overlay into a raw base volume: the disk is raw again, guest data unchanged", async () => {
    const db = await t.api.vmByName("db01");
    const [, raw] = await disksOf(db.id);
    expect(t.sim.state.volumes(raw.id).map((v) => v.format)).toEqual(["raw", "cow"]);
    await t.sim.guest.write("db01", 4, { seed: 5, diskId: raw.id });
    const guest = await fullGuest(raw.id);
    const nightly = (await t.api.ok(`/vms/${db.id}/snapshots`)).snapshot.find(
      (s: Json) => s.description === "nightly",
    );
    expect((await t.api.del(`/vms/${db.id}/snapshots/${nightly.id}`)).status).toBe(200);
    await t.api.waitFor(`/vms/${db.id}/snapshots/${nightly.id}`, (_j, status) => status === 404);
    const vols = t.sim.state.volumes(raw.id);
    expect(vols.map((v) => v.format)).toEqual(["raw"]);
    expect((await t.api.ok(`/disks/${raw.id}`)).format).toBe("raw");
    expect((await fullGuest(raw.id)).equals(guest)).toBe(true);
  });
});
