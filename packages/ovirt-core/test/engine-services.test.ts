import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AbortedError,
  EngineClient,
  EngineStateError,
  ImageTransferFailedError,
  OvfNotAvailableError,
  WaitTimeoutError,
} from "../src/engine";
import {
  attachmentJson,
  clusterJson,
  diskJson,
  diskSnapshotJson,
  fault,
  ids,
  OVF,
  snapshotJson,
  storageDomainJson,
  transferJson,
  vmJson,
  vmWithOvf,
} from "./support/engine-fixtures";
import { makePki, type TestPki } from "./support/pki";
import { type Reply, ScriptedServer } from "./support/scripted-server";

let pki: TestPki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.cleanup());

let server: ScriptedServer;
let engine: EngineClient;
beforeEach(async () => {
  server = await ScriptedServer.start(pki);
  engine = new EngineClient({
    url: server.url,
    username: server.opts.username,
    password: server.opts.password,
    caPem: pki.caPem,
    retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 10 },
    pollIntervalMs: 5,
  });
});
afterEach(async () => {
  await engine.close();
  await server.close();
});

const notFound: Reply = { status: 404, json: fault("Entity not found: 404") };
const last = () => server.requests[server.requests.length - 1]!;

describe("VMs", () => {
  it("searches by name with the query parameters spelled out", async () => {
    server.route("GET", "/vms", { json: { vm: [vmJson(), vmJson({ id: "other", name: "db01-old" })] } });
    const vms = await engine.vms.list({ name: "db*", max: 10 });
    expect(vms.map((v) => v.name)).toEqual(["db01", "db01-old"]);
    const q = last().query;
    expect(q.get("search")).toBe("name=db*");
    expect(q.get("max")).toBe("10");
    expect(q.get("case_sensitive")).toBe("false");
    expect(q.has("all_content")).toBe(false);
    // The engine's search syntax breaks on `+`, so spaces travel as %20.
    await engine.vms.list({ name: "my vm" });
    expect(last().query.get("search")).toBe('name="my vm"');
    expect(last().rawQuery).toContain("search=name%3D%22my%20vm%22");
  });

  it("findByName keeps only the exact match of the pattern search", async () => {
    server.route("GET", "/vms", { json: { vm: [vmJson({ id: "x", name: "db01-old" }), vmJson()] } });
    expect((await engine.vms.findByName("db01"))?.id).toBe(ids.vm);
    expect(last().query.get("case_sensitive")).toBe("true");
    expect(await engine.vms.findByName("nope")).toBeUndefined();
  });

  it("parses a VM as the engine writes it", async () => {
    server.route("GET", `/vms/${ids.vm}`, { json: vmJson() });
    const vm = await engine.vms.get(ids.vm);
    expect(vm).toMatchObject({
      id: ids.vm,
      name: "db01",
      status: "up",
      memory: 4294967296n,
      stateless: false,
      osType: "rhel_8x64",
      cluster: { id: ids.cluster },
    });
    expect(vm.creationTime?.toISOString()).toBe("2024-05-01T09:00:00.000Z");
    expect(vm.ovf).toBeUndefined();
  });

  it("reads the OVF with all_content (query and legacy header)", async () => {
    server.route("GET", `/vms/${ids.vm}`, { json: vmWithOvf() });
    expect(await engine.vms.ovf(ids.vm)).toBe(OVF);
    expect(last().query.get("all_content")).toBe("true");
    expect(last().headers["all-content"]).toBe("true");
  });

  it("signals a missing OVF (disk locked) as retryable, and waits for it", async () => {
    server.route("GET", `/vms/${ids.vm}`, { json: vmJson() });
    const err = await engine.vms.ovf(ids.vm).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OvfNotAvailableError);
    expect((err as OvfNotAvailableError).retryable).toBe(true);

    server.route("GET", `/vms/${ids.vm}`, { json: vmJson() }, { json: vmJson() }, { json: vmWithOvf() });
    expect(await engine.vms.waitForOvf(ids.vm, { timeoutMs: 5000 })).toBe(OVF);
  });

  it("adds a VM from an OVF when the engine blocks and answers 201", async () => {
    server.route("POST", "/vms", { status: 201, json: vmJson({ name: "db01-restored", status: "down" }) });
    const vm = await engine.vms.addFromOvf({
      ovf: OVF,
      name: "db01-restored",
      cluster: { name: "Default" },
      regenerateIds: true,
    });
    expect(vm.name).toBe("db01-restored");
    expect(last().json).toEqual({
      cluster: { name: "Default" },
      name: "db01-restored",
      initialization: { regenerate_ids: "true", configuration: { type: "ovf", data: OVF } },
    });
    expect(last().headers["content-type"]).toBe("application/json");
  });

  it("adds a VM from an OVF when the engine answers 202 and the VM stays image_locked for a while", async () => {
    server.route("POST", "/vms", { status: 202, json: vmJson({ status: "image_locked" }) });
    server.route(
      "GET",
      `/vms/${ids.vm}`,
      { json: vmJson({ status: "image_locked" }) },
      { json: vmJson({ status: "image_locked" }) },
      { json: vmJson({ status: "down" }) },
    );
    const vm = await engine.vms.addFromOvf({ ovf: OVF, cluster: { id: ids.cluster } }, { timeoutMs: 5000 });
    expect(vm.status).toBe("down");
    expect(server.calls("GET", `/vms/${ids.vm}`)).toBe(3);
  });

  it("fails an OVF import whose VM disappears while locked", async () => {
    server.route("POST", "/vms", { status: 202, json: vmJson({ status: "image_locked" }) });
    server.route("GET", `/vms/${ids.vm}`, notFound);
    await expect(engine.vms.addFromOvf({ ovf: OVF, cluster: { id: ids.cluster } })).rejects.toBeInstanceOf(
      EngineStateError,
    );
  });
});

describe("snapshots", () => {
  const snaps = `/vms/${ids.vm}/snapshots`;
  const one = `${snaps}/${ids.snap}`;

  it("adds a snapshot without memory and waits from locked to ok", async () => {
    server.route("POST", snaps, { status: 201, json: snapshotJson({ snapshot_status: "locked" }) });
    server.route("GET", one, { json: snapshotJson({ snapshot_status: "locked" }) }, { json: snapshotJson() });
    const snap = await engine.snapshots.create(
      ids.vm,
      { description: "lifeboat backup" },
      { timeoutMs: 5000 },
    );
    expect(snap.status).toBe("ok");
    expect(snap.persistMemorystate).toBe(false);
    expect(snap.date?.getTime()).toBe(1714528800000);
    expect(server.requests.find((r) => r.method === "POST")?.json).toEqual({
      description: "lifeboat backup",
      persist_memorystate: "false",
    });
  });

  it("sends disk_attachments with image_id for the restore trick", async () => {
    server.route("POST", snaps, { status: 201, json: snapshotJson({ snapshot_status: "locked" }) });
    await engine.snapshots.add(ids.vm, {
      description: "restore layer 2",
      diskAttachments: [{ diskId: ids.disk, imageId: ids.vol3, initialSize: 1073741824n }],
    });
    expect(last().json).toEqual({
      description: "restore layer 2",
      persist_memorystate: "false",
      disk_attachments: {
        disk_attachment: [{ disk: { id: ids.disk, image_id: ids.vol3, initial_size: "1073741824" } }],
      },
    });
  });

  it("reads a 404 while waiting for creation as a rolled-back snapshot", async () => {
    server.route("GET", one, { json: snapshotJson({ snapshot_status: "locked" }) }, notFound);
    const err = await engine.snapshots.waitOk(ids.vm, ids.snap).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineStateError);
    expect((err as EngineStateError).message).toContain("rolled it back");
  });

  it("removes a snapshot and waits until it is gone (404)", async () => {
    server.route("DELETE", one, { json: {} });
    server.route(
      "GET",
      one,
      { json: snapshotJson({ snapshot_status: "locked" }) },
      { json: snapshotJson({ snapshot_status: "locked" }) },
      notFound,
    );
    await engine.snapshots.delete(ids.vm, ids.snap, { timeoutMs: 5000 });
    expect(server.calls("GET", one)).toBe(3);
  });

  it("fails the removal wait when the snapshot comes back ok after being locked", async () => {
    server.route("GET", one, { json: snapshotJson({ snapshot_status: "locked" }) }, { json: snapshotJson() });
    await expect(engine.snapshots.waitRemoved(ids.vm, ids.snap)).rejects.toThrow(
      /removing snapshot .* failed/,
    );
  });

  it("lists snapshots and the disks of one snapshot", async () => {
    server.route("GET", snaps, {
      json: {
        snapshot: [
          snapshotJson({ id: "active", snapshot_type: "active", description: "Active VM" }),
          snapshotJson(),
        ],
      },
    });
    server.route("GET", `${one}/disks`, { json: { disk: [diskJson({ image_id: ids.vol2 })] } });
    const list = await engine.snapshots.list(ids.vm);
    expect(list.map((s) => s.type)).toEqual(["active", "regular"]);
    const disks = await engine.snapshots.disks(ids.vm, ids.snap);
    expect(disks[0]?.imageId).toBe(ids.vol2);
  });

  it("gives up at the deadline with the last state, and stops on abort", async () => {
    server.route("GET", one, { json: snapshotJson({ snapshot_status: "locked" }) });
    const err = await engine.snapshots
      .waitOk(ids.vm, ids.snap, { timeoutMs: 60, intervalMs: 10 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as WaitTimeoutError).lastState).toBe("locked");

    const ac = new AbortController();
    const waiting = engine.snapshots.waitOk(ids.vm, ids.snap, {
      timeoutMs: 60_000,
      intervalMs: 20,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 50);
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
  });
});

describe("disks, attachments, disk snapshots", () => {
  it("adds a disk with sizes as strings and the storage domain by name", async () => {
    server.route("POST", "/disks", { status: 201, json: diskJson({ status: "locked" }) });
    const disk = await engine.disks.add({
      id: ids.disk,
      imageId: ids.vol1,
      name: "restored_Disk1",
      format: "cow",
      sparse: true,
      provisionedSize: 21474836480n,
      initialSize: 1073741824n,
      storageDomain: { name: "data1" },
      contentType: "data",
    });
    expect(disk.status).toBe("locked");
    expect(last().json).toEqual({
      id: ids.disk,
      image_id: ids.vol1,
      name: "restored_Disk1",
      format: "cow",
      sparse: "true",
      provisioned_size: "21474836480",
      initial_size: "1073741824",
      content_type: "data",
      storage_domains: { storage_domain: [{ name: "data1" }] },
    });
  });

  it("waits for a disk to be ok; illegal and 404 fail", async () => {
    const path = `/disks/${ids.disk}`;
    server.route("GET", path, { json: diskJson({ status: "locked" }) }, { json: diskJson() });
    expect((await engine.disks.waitOk(ids.disk)).status).toBe("ok");

    server.route(
      "GET",
      path,
      { json: diskJson({ status: "locked" }) },
      { json: diskJson({ status: "illegal" }) },
    );
    await expect(engine.disks.waitOk(ids.disk)).rejects.toMatchObject({ state: "illegal" });

    server.route("GET", path, notFound);
    await expect(engine.disks.waitOk(ids.disk)).rejects.toMatchObject({ state: "removed" });
  });

  it("lists attachments with their disks inlined (follow=disk) and attaches with active sent", async () => {
    const path = `/vms/${ids.vm}/diskattachments`;
    server.route("GET", path, { json: { disk_attachment: [attachmentJson({ disk: diskJson() })] } });
    const list = await engine.diskAttachments.list(ids.vm);
    expect(last().query.get("follow")).toBe("disk");
    expect(list[0]).toMatchObject({
      diskId: ids.disk,
      bootable: true,
      interface: "virtio_scsi",
      active: true,
    });
    expect(list[0]?.disk?.provisionedSize).toBe(21474836480n);

    server.route("GET", path, { json: { disk_attachment: [attachmentJson()] } });
    expect((await engine.diskAttachments.list(ids.vm, { followDisk: false }))[0]?.disk).toBeUndefined();

    server.route("POST", path, { status: 201, json: attachmentJson() });
    await engine.diskAttachments.add(ids.vm, { diskId: ids.disk, interface: "virtio_scsi", bootable: true });
    expect(last().json).toEqual({
      disk: { id: ids.disk },
      interface: "virtio_scsi",
      bootable: "true",
      active: "true",
    });
  });

  it("lists the volumes of a disk with include_active", async () => {
    server.route("GET", `/disks/${ids.disk}/disksnapshots`, {
      json: {
        disk_snapshot: [
          diskSnapshotJson(ids.vol2, { parent: { id: ids.vol1 } }),
          diskSnapshotJson(ids.vol1, { format: "raw", snapshot: { id: ids.snap } }),
        ],
      },
    });
    const vols = await engine.diskSnapshots.listForDisk(ids.disk);
    expect(last().query.get("include_active")).toBe("true");
    expect(vols.map((v) => [v.id, v.parent?.id, v.format])).toEqual([
      [ids.vol2, ids.vol1, "cow"],
      [ids.vol1, undefined, "raw"],
    ]);
  });

  it("falls back to the storage domain's disk snapshots on engines without the per-disk path", async () => {
    server.route("GET", `/disks/${ids.disk}/disksnapshots`, notFound);
    server.route("GET", `/disks/${ids.disk}`, { json: diskJson() });
    server.route("GET", `/storagedomains/${ids.sd}/disksnapshots`, {
      json: {
        disk_snapshot: [
          diskSnapshotJson(ids.vol1),
          diskSnapshotJson("other-vol", { disk: { id: "other-disk" } }),
          diskSnapshotJson(ids.vol2),
        ],
      },
    });
    const vols = await engine.diskSnapshots.listForDisk(ids.disk);
    expect(vols.map((v) => v.id)).toEqual([ids.vol1, ids.vol2]);
    expect(last().query.get("include_active")).toBe("true");
  });

  it("reports a missing disk as not found in the fallback", async () => {
    server.route("GET", `/disks/${ids.disk}/disksnapshots`, notFound);
    server.route("GET", `/disks/${ids.disk}`, notFound);
    await expect(engine.diskSnapshots.listForDisk(ids.disk)).rejects.toMatchObject({ status: 404 });
  });
});

describe("storage domains and clusters", () => {
  it("finds a storage domain by exact name and parses its sizes", async () => {
    server.route("GET", "/storagedomains", {
      json: { storage_domain: [storageDomainJson({ id: "x", name: "data10" }), storageDomainJson()] },
    });
    const sd = await engine.storageDomains.byName("data1");
    expect(last().query.get("search")).toBe("name=data1");
    expect(sd).toMatchObject({
      id: ids.sd,
      storageType: "nfs",
      available: 812354748416n,
      blockSize: 512,
      master: true,
    });
    server.route("GET", "/storagedomains", { json: {} });
    await expect(engine.storageDomains.byName("data1")).rejects.toThrow('no storage domain named "data1"');
  });

  it("lists clusters with their compatibility version", async () => {
    server.route("GET", "/clusters", { json: { cluster: [clusterJson()] } });
    const [c] = await engine.clusters.list();
    expect(c).toMatchObject({
      name: "Default",
      version: "4.7",
      cpuType: "Intel Nehalem Family",
      dataCenter: { id: ids.dc },
    });
  });
});

describe("image transfers", () => {
  const path = `/imagetransfers/${ids.transfer}`;

  it("adds a transfer with every option in the engine's spelling", async () => {
    server.route("POST", "/imagetransfers", { status: 201, json: transferJson("initializing") });
    const t = await engine.imageTransfers.add({
      direction: "download",
      snapshot: ids.vol2,
      format: "raw",
      shallow: true,
      inactivityTimeout: 3600,
      timeoutPolicy: "cancel",
      host: { id: ids.host },
    });
    expect(t.phase).toBe("initializing");
    expect(last().json).toEqual({
      direction: "download",
      snapshot: { id: ids.vol2 },
      format: "raw",
      shallow: "true",
      inactivity_timeout: "3600",
      timeout_policy: "cancel",
      host: { id: ids.host },
    });
    await expect(engine.imageTransfers.add({ direction: "upload" })).rejects.toThrow(/exactly one target/);
    await expect(
      engine.imageTransfers.add({ direction: "download", snapshot: ids.vol2, backup: "b" }),
    ).rejects.toThrow(/backup image transfer needs the disk/);
  });

  it("starts: waits from initializing to transferring and returns the URLs", async () => {
    server.route("POST", "/imagetransfers", { status: 201, json: transferJson("initializing") });
    server.route("GET", path, { json: transferJson("initializing") }, { json: transferJson("transferring") });
    const t = await engine.imageTransfers.start({ direction: "download", disk: ids.disk });
    expect(t.phase).toBe("transferring");
    expect(t.transferUrl).toBe(`https://host1.example.com:54322/images/${ids.ticket}`);
    expect(t.proxyUrl).toBe(`https://engine.example.com:54323/images/${ids.ticket}`);
    expect(t.inactivityTimeout).toBe(120);
    expect(t.transferred).toBe(0n);
  });

  it.each([
    ["paused_system", { json: transferJson("paused_system") }],
    ["cancelled_system", { json: transferJson("cancelled_system") }],
    ["finished_failure", { json: transferJson("finished_failure") }],
    ["removed", notFound],
  ])("fails to start when the transfer goes %s, naming it, and cancels", async (phase, reply) => {
    server.route("POST", "/imagetransfers", { status: 201, json: transferJson("initializing") });
    server.route("GET", path, { json: transferJson("initializing") }, reply);
    server.route("POST", `${path}/cancel`, { json: { status: "complete" } });
    const err = await engine.imageTransfers
      .start({ direction: "upload", disk: ids.disk })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageTransferFailedError);
    expect((err as ImageTransferFailedError).state).toBe(phase);
    expect((err as Error).message).toContain(phase);
    expect(server.calls("POST", `${path}/cancel`)).toBe(1);
  });

  it("finalizes and waits for finished_success", async () => {
    server.route("POST", `${path}/finalize`, { json: { status: "complete" } });
    server.route(
      "GET",
      path,
      { json: transferJson("transferring") },
      { json: transferJson("finalizing_success") },
      { json: transferJson("finished_success") },
    );
    const out = await engine.imageTransfers.finalizeAndWait(ids.transfer);
    expect(out).toEqual({ id: ids.transfer, confirmedBy: "phase" });
    expect(server.requests.find((r) => r.path === `${path}/finalize`)?.json).toEqual({});
  });

  it("falls back to the disk when an old engine deletes the finished transfer (404)", async () => {
    server.route("POST", `${path}/finalize`, { json: { status: "complete" } });
    server.route(
      "GET",
      path,
      { json: transferJson("transferring") },
      { json: transferJson("finalizing_success") },
      notFound,
    );
    server.route("GET", `/disks/${ids.disk}`, { json: diskJson({ status: "ok" }) });
    expect(await engine.imageTransfers.finalizeAndWait(ids.transfer)).toEqual({
      id: ids.transfer,
      confirmedBy: "disk",
    });
  });

  it("reads a removed disk after the 404 as a failed upload", async () => {
    server.route("GET", path, notFound);
    server.route("GET", `/disks/${ids.disk}`, notFound);
    const err = await engine.imageTransfers
      .waitFinished(ids.transfer, { diskId: ids.disk })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageTransferFailedError);
    expect((err as ImageTransferFailedError).state).toBe("removed");
  });

  it("reads an illegal disk after the 404 as a failure", async () => {
    server.route("GET", path, notFound);
    server.route("GET", `/disks/${ids.disk}`, { json: diskJson({ status: "illegal" }) });
    await expect(
      engine.imageTransfers.waitFinished(ids.transfer, { diskId: ids.disk }),
    ).rejects.toMatchObject({
      state: "illegal",
    });
  });

  it("fails on finished_failure and on paused_system after finalize", async () => {
    server.route(
      "GET",
      path,
      { json: transferJson("finalizing_success") },
      { json: transferJson("finalizing_failure") },
    );
    await expect(engine.imageTransfers.waitFinished(ids.transfer)).rejects.toMatchObject({
      state: "finalizing_failure",
    });
    server.route("GET", path, { json: transferJson("paused_system") });
    await expect(engine.imageTransfers.waitFinished(ids.transfer)).rejects.toThrow(/manual cleanup/);
  });

  it("cancels with an empty action body", async () => {
    server.route("POST", `${path}/cancel`, { json: { status: "complete" } });
    await engine.imageTransfers.cancel(ids.transfer);
    expect(last().json).toEqual({});
  });

  it("lists transfers, `{}` when there are none", async () => {
    server.route("GET", "/imagetransfers", { json: {} });
    expect(await engine.imageTransfers.list()).toEqual([]);
    server.route("GET", "/imagetransfers", { json: { image_transfer: [transferJson("transferring")] } });
    expect((await engine.imageTransfers.list())[0]?.disk?.id).toBe(ids.disk);
  });
});
