import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addDisk, startTransfer } from "./support/flows";
import { startTestSim, type TestSim } from "./support/sim";

/** Older engines (`engineVersion`) as ovirt-protocol.md's version table describes them, and the faults of their flows. */
const MiB = 2 ** 20;
const rawDisk = (name: string) => ({
  name,
  provisioned_size: String(MiB),
  format: "raw",
  sparse: "true",
  storage_domains: { storage_domain: [{ name: "data1" }] },
});

let t: TestSim;
let old: TestSim;
beforeAll(async () => {
  [t, old] = await Promise.all([startTestSim(), startTestSim({ engineVersion: "4.4.2", seed: false })]);
});
afterAll(async () => {
  await Promise.all([t?.stop(), old?.stop()]);
});

describe("engine versions", () => {
  it("names its version in product_info", async () => {
    expect((await t.api.ok("")).product_info.version).toMatchObject({ major: "4", minor: "5", build: "5" });
    expect((await old.api.ok("")).product_info.version).toMatchObject({ major: "4", minor: "4", build: "2" });
  });

  it("has no per-disk disk snapshots before 4.4.3, only the storage domain's", async () => {
    const disk = await addDisk(old.api, rawDisk("old"));
    expect((await old.api.get(`/disks/${disk.id}/disksnapshots`)).status).toBe(404);
    const sd = disk.storage_domains.storage_domain[0].id;
    const vols = await old.api.ok(`/storagedomains/${sd}/disksnapshots?include_active=true`);
    expect(vols.disk_snapshot.map((v: { disk: { id: string } }) => v.disk.id)).toContain(disk.id);
    const newer = await addDisk(t.api, rawDisk("new"));
    expect((await t.api.get(`/disks/${newer.id}/disksnapshots?include_active=true`)).status).toBe(200);
  });

  it("answers an OVF import with 202 before 4.5.1, the VM image_locked until it ends", async () => {
    const vm = await t.api.vmByName("db01");
    const ovf = (await t.api.ok(`/vms/${vm.id}?all_content=true`)).initialization.configuration.data;
    const cluster = (await old.api.ok("/clusters")).cluster[0].id;
    const body = { cluster: { id: cluster }, initialization: { configuration: { type: "ovf", data: ovf } } };
    const a = await old.api.post("/vms", body);
    expect(a.status).toBe(202);
    expect(a.json.status).toBe("image_locked");
    await old.api.waitFor(`/vms/${a.json.id}`, (j) => j.status === "down");

    old.sim.faults.failOperation("vms.add.async", { status: 500 });
    const b = await old.api.post("/vms", {
      ...body,
      name: "rolled-back",
      initialization: { ...body.initialization, regenerate_ids: "true" },
    });
    expect(b.status).toBe(202);
    await old.api.waitFor(`/vms/${b.json.id}`, (_j, status) => status === 404);

    // A current engine waits for the import and answers 201.
    const c = await t.api.post("/vms", {
      name: "imported",
      cluster: { name: "Default" },
      initialization: { regenerate_ids: "true", configuration: { type: "ovf", data: ovf } },
    });
    expect(c.status).toBe(201);
  });

  it("deletes a finished transfer before 4.4.7 without showing a finished phase", async () => {
    const disk = await addDisk(old.api, rawDisk("gone"));
    const tr = await startTransfer(old.api, { direction: "download", disk: { id: disk.id } });
    await old.api.post(`/imagetransfers/${tr.id}/finalize`, {});
    const seen = await old.api.waitFor(
      `/imagetransfers/${tr.id}`,
      (j, status) => status === 404 || String(j.phase).startsWith("finished"),
    );
    expect(seen.phase).toBeUndefined();
  });
});

describe("faults of transfers and snapshots", () => {
  it("imagetransfers.ticket: an upload pauses, a download is cancelled", async () => {
    for (const [direction, phase] of [
      ["upload", "paused_system"],
      ["download", "cancelled_system"],
    ] as const) {
      const disk = await addDisk(t.api, rawDisk(`ticket-${direction}`));
      t.sim.faults.failOperation("imagetransfers.ticket", { status: 500 });
      const hold = t.sim.faults.holdTransfer({ phase: "cancelled_system" });
      const a = await t.api.post("/imagetransfers", { direction, disk: { id: disk.id } });
      await t.api.waitFor(`/imagetransfers/${a.json.id}`, (j) => j.phase === phase);
      hold.remove();
      await t.api.post(`/imagetransfers/${a.json.id}/cancel`, {});
    }
  });

  it("imagetransfers.init ends the transfer finished_failure; finalize.async pauses it, disk illegal", async () => {
    const disk = await addDisk(t.api, rawDisk("init"));
    t.sim.faults.failOperation("imagetransfers.init", { status: 500 });
    const a = await t.api.post("/imagetransfers", { direction: "download", disk: { id: disk.id } });
    await t.api.waitFor(`/imagetransfers/${a.json.id}`, (j) => j.phase === "finished_failure");
    expect((await t.api.ok(`/disks/${disk.id}`)).status).toBe("ok");

    const up = await addDisk(t.api, rawDisk("finalize"));
    const tr = await startTransfer(t.api, { direction: "upload", disk: { id: up.id } });
    t.sim.faults.failOperation("imagetransfers.finalize.async", { status: 500 });
    await t.api.post(`/imagetransfers/${tr.id}/finalize`, {});
    await t.api.waitFor(`/imagetransfers/${tr.id}`, (j) => j.phase === "paused_system");
    expect((await t.api.ok(`/disks/${up.id}`)).status).toBe("illegal");
  });

  it("holds a snapshot locked; snapshots.remove.async leaves it ok", async () => {
    const vm = await t.api.vmByName("app01");
    const hold = t.sim.faults.holdSnapshot();
    const s = await t.api.post(`/vms/${vm.id}/snapshots`, { description: "held" });
    await new Promise((r) => setTimeout(r, 150));
    expect((await t.api.ok(`/vms/${vm.id}/snapshots/${s.json.id}`)).snapshot_status).toBe("locked");
    hold.remove();
    await t.api.waitFor(`/vms/${vm.id}/snapshots/${s.json.id}`, (j) => j.snapshot_status === "ok");
    t.sim.faults.failOperation("snapshots.remove.async", { status: 500 });
    expect((await t.api.del(`/vms/${vm.id}/snapshots/${s.json.id}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 150));
    expect((await t.api.ok(`/vms/${vm.id}/snapshots/${s.json.id}`)).snapshot_status).toBe("ok");
  });
});
