import { randomUUID } from "node:crypto";
import { type Simulator, startSimulator } from "@lifeboat/ovirt-sim";
import {
  type EngineRecorder,
  type EngineRequestRecord,
  FAST_SIM,
  recordEngine,
} from "@lifeboat/ovirt-sim/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AbortedError,
  EngineClient,
  EngineStateError,
  ImageTransferFailedError,
  OvfNotAvailableError,
  WaitTimeoutError,
} from "../src/engine";
import { tempDir } from "./support/images";

/**
 * The engine services against the simulated engine: what each service sends (the engine recorder: method,
 * path, query, headers, body) and how it reads the answers. `old` answers as a 4.4.2 engine: no per-disk
 * disk snapshots path, finished transfers deleted at once (404), OVF imports answered 202 while the VM stays
 * image_locked.
 */
const MiB = 2 ** 20;

let tmp: ReturnType<typeof tempDir>;
let sim: Simulator;
let old: Simulator;
let ovf: string;
const vmIds: Record<string, string> = {};
beforeAll(async () => {
  tmp = tempDir("lifeboat-engine-services-");
  [sim, old] = await Promise.all([
    startSimulator({ dataDir: tmp.file("sim"), ...FAST_SIM }),
    startSimulator({ dataDir: tmp.file("old"), ...FAST_SIM, seed: false, engineVersion: "4.4.2" }),
  ]);
  for (const name of ["db01", "app01"]) {
    const vm = sim.state.vm(name);
    if (!vm) throw new Error(`no ${name} in the seed`);
    vmIds[name] = vm.id;
  }
  const setup = client(sim);
  try {
    ovf = await setup.vms.ovf(vmIds.db01 as string);
    // A second VM matching `db01*`, so that the name searches have more than the exact match to sift.
    await setup.vms.addFromOvf({ ovf, name: "db01-old", cluster: { name: "Default" }, regenerateIds: true });
  } finally {
    await setup.close();
  }
});
afterAll(async () => {
  await Promise.all([sim?.stop(), old?.stop()]);
  tmp.cleanup();
});

function client(s: Simulator): EngineClient {
  return new EngineClient({
    url: s.engineUrl,
    username: s.adminUser,
    password: s.adminPassword,
    caPem: s.caPem,
    retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 10 },
    pollIntervalMs: 5,
  });
}

let engine: EngineClient;
let oldEngine: EngineClient;
let log: EngineRecorder;
let oldLog: EngineRecorder;
beforeEach(() => {
  engine = client(sim);
  oldEngine = client(old);
  log = recordEngine(sim);
  oldLog = recordEngine(old);
});
afterEach(async () => {
  await Promise.all([engine.close(), oldEngine.close()]);
  sim.faults.clear();
  old.faults.clear();
});

const api = (l: EngineRecorder) => l.requests.filter((r) => r.kind === "api");
const last = (l: EngineRecorder = log) => api(l)[api(l).length - 1] as EngineRequestRecord;
const find = (l: EngineRecorder, method: string, path: string) =>
  api(l).find((r) => r.method === method && r.path === path) as EngineRequestRecord;
const json = (r: EngineRequestRecord): unknown => (r.body ? JSON.parse(r.body) : undefined);
const vm = (name: "db01" | "app01") => vmIds[name] as string;

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A new floating disk, ok, on data1. */
async function newDisk(e: EngineClient, name: string, format: "raw" | "cow" = "raw"): Promise<string> {
  const d = await e.disks.add({
    name,
    format,
    sparse: true,
    provisionedSize: BigInt(MiB),
    storageDomain: { name: "data1" },
  });
  await e.disks.waitOk(d.id, { timeoutMs: 5000 });
  return d.id;
}

/** Waits until the simulator has ended the transfer (finished, or deleted by an old engine). */
async function settled(s: Simulator, id: string): Promise<void> {
  await until(`transfer ${id} to end`, () => {
    const t = s.state.transfers().find((x) => x.id === id);
    return t === undefined || t.phase === "finished_success" || t.phase === "finished_failure";
  });
}

describe("VMs", () => {
  it("searches by name with the query parameters spelled out", async () => {
    const vms = await engine.vms.list({ name: "db*", max: 10 });
    expect(vms.map((v) => v.name).sort()).toEqual(["db01", "db01-old"]);
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
    expect((await engine.vms.findByName("db01"))?.id).toBe(vm("db01"));
    expect(last().query.get("case_sensitive")).toBe("true");
    expect(await engine.vms.findByName("nope")).toBeUndefined();
  });

  it("parses a VM as the engine writes it", async () => {
    const rec = sim.state.vm("db01");
    const got = await engine.vms.get(vm("db01"));
    expect(got).toMatchObject({
      id: vm("db01"),
      name: "db01",
      status: rec?.status,
      memory: BigInt(rec?.memory ?? 0),
      stateless: false,
      osType: rec?.osType,
      cluster: { id: rec?.clusterId },
    });
    expect(got.creationTime?.getTime()).toBe(rec?.creationTime);
    expect(got.ovf).toBeUndefined();
  });

  it("reads the OVF with all_content (query and legacy header)", async () => {
    const got = await engine.vms.ovf(vm("db01"));
    expect(got).toContain("<ovf:Envelope");
    expect(got).toContain(vm("db01"));
    expect(last().query.get("all_content")).toBe("true");
    expect(last().headers["all-content"]).toBe("true");
  });

  it("signals a missing OVF (disk locked) as retryable, and waits for it", async () => {
    // A snapshot that does not end keeps the VM image_locked: the engine leaves the OVF out meanwhile.
    const hold = sim.faults.holdSnapshot();
    const snap = await engine.snapshots.add(vm("db01"), { description: "ovf wait" });
    const err = await engine.vms.ovf(vm("db01")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OvfNotAvailableError);
    expect((err as OvfNotAvailableError).retryable).toBe(true);

    const waiting = engine.vms.waitForOvf(vm("db01"), { timeoutMs: 5000 });
    await until("a poll of the locked VM", () => log.calls("GET", `/vms/${vm("db01")}`) >= 2);
    hold.remove();
    expect(await waiting).toContain("<ovf:Envelope");
    expect(log.calls("GET", `/vms/${vm("db01")}`)).toBeGreaterThanOrEqual(3);
    await engine.snapshots.waitOk(vm("db01"), snap.id, { timeoutMs: 5000 });
  });

  it("adds a VM from an OVF when the engine blocks and answers 201", async () => {
    const got = await engine.vms.addFromOvf({
      ovf,
      name: "db01-restored",
      cluster: { name: "Default" },
      regenerateIds: true,
    });
    expect(got.name).toBe("db01-restored");
    const post = find(log, "POST", "/vms");
    expect(json(post)).toEqual({
      cluster: { name: "Default" },
      name: "db01-restored",
      initialization: { regenerate_ids: "true", configuration: { type: "ovf", data: ovf } },
    });
    expect(post.headers["content-type"]).toBe("application/json");
    // Done when answered: no wait for the VM to unlock.
    expect(log.calls("GET", `/vms/${got.id}`)).toBe(0);
  });

  it("adds a VM from an OVF when the engine answers 202 and the VM stays image_locked for a while", async () => {
    const cluster = old.state.clusters()[0]?.id as string;
    const got = await oldEngine.vms.addFromOvf({ ovf, cluster: { id: cluster } }, { timeoutMs: 5000 });
    expect(got.status).toBe("down");
    expect(got.id).toBe(vm("db01"));
    // It polled the locked VM until the import ended.
    expect(oldLog.calls("GET", `/vms/${got.id}`)).toBeGreaterThanOrEqual(1);
    expect(old.state.vm(got.id)?.status).toBe("down");
  });

  it("fails an OVF import whose VM disappears while locked", async () => {
    old.faults.failOperation("vms.add.async", { status: 500 });
    const cluster = old.state.clusters()[0]?.id as string;
    await expect(
      oldEngine.vms.addFromOvf({ ovf, name: "db01-gone", cluster: { id: cluster }, regenerateIds: true }),
    ).rejects.toBeInstanceOf(EngineStateError);
    expect(old.state.vm("db01-gone")).toBeUndefined();
  });
});

describe("snapshots", () => {
  const snaps = () => `/vms/${vm("db01")}/snapshots`;

  it("adds a snapshot without memory and waits from locked to ok", async () => {
    const snap = await engine.snapshots.create(
      vm("db01"),
      { description: "lifeboat backup" },
      { timeoutMs: 5000 },
    );
    expect(snap.status).toBe("ok");
    expect(snap.persistMemorystate).toBe(false);
    const rec = sim.state.snapshots(vm("db01")).find((s) => s.id === snap.id);
    expect(snap.date?.getTime()).toBe(rec?.date);
    expect(json(find(log, "POST", snaps()))).toEqual({
      description: "lifeboat backup",
      persist_memorystate: "false",
    });
    expect(log.calls("GET", `${snaps()}/${snap.id}`)).toBeGreaterThanOrEqual(1);
  });

  it("sends disk_attachments with image_id for the restore trick", async () => {
    const diskId = sim.state.vm("db01")?.attachments[0]?.diskId as string;
    const imageId = randomUUID();
    const snap = await engine.snapshots.add(vm("db01"), {
      description: "restore layer 2",
      diskAttachments: [{ diskId, imageId, initialSize: 1073741824n }],
    });
    expect(json(last())).toEqual({
      description: "restore layer 2",
      persist_memorystate: "false",
      disk_attachments: {
        disk_attachment: [{ disk: { id: diskId, image_id: imageId, initial_size: "1073741824" } }],
      },
    });
    await engine.snapshots.waitOk(vm("db01"), snap.id, { timeoutMs: 5000 });
    // The engine took the id: the disk's new active volume.
    expect(sim.state.volumes(diskId).at(-1)?.id).toBe(imageId);
  });

  it("reads a 404 while waiting for creation as a rolled-back snapshot", async () => {
    sim.faults.failOperation("snapshots.add.async", { status: 500 });
    const snap = await engine.snapshots.add(vm("db01"), { description: "rolled back" });
    const err = await engine.snapshots.waitOk(vm("db01"), snap.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineStateError);
    expect((err as EngineStateError).message).toContain("rolled it back");
  });

  it("removes a snapshot and waits until it is gone (404)", async () => {
    const snap = await engine.snapshots.create(vm("db01"), { description: "to remove" }, { timeoutMs: 5000 });
    log.clear();
    await engine.snapshots.delete(vm("db01"), snap.id, { timeoutMs: 5000 });
    expect(log.calls("DELETE", `${snaps()}/${snap.id}`)).toBe(1);
    expect(log.calls("GET", `${snaps()}/${snap.id}`)).toBeGreaterThanOrEqual(1);
    expect(sim.state.snapshots(vm("db01")).some((s) => s.id === snap.id)).toBe(false);
  });

  it("fails the removal wait when the snapshot comes back ok after being locked", async () => {
    const snap = await engine.snapshots.create(
      vm("db01"),
      { description: "merge fails" },
      { timeoutMs: 5000 },
    );
    // Held until the client has seen it locked; then the merge fails and the snapshot is ok again.
    const hold = sim.faults.holdSnapshot({ snapshotId: snap.id });
    sim.faults.failOperation("snapshots.remove.async", { status: 500 });
    await engine.snapshots.remove(vm("db01"), snap.id);
    log.clear();
    const waiting = engine.snapshots.waitRemoved(vm("db01"), snap.id).catch((e: unknown) => e);
    await until("a poll of the locked snapshot", () => log.calls("GET", `${snaps()}/${snap.id}`) >= 1);
    hold.remove();
    const err = await waiting;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/removing snapshot .* failed/);
  });

  it("lists snapshots and the disks of one snapshot", async () => {
    const id = vm("app01");
    const list = await engine.snapshots.list(id);
    const recs = sim.state.snapshots(id);
    expect(list.map((s) => [s.id, s.type]).sort()).toEqual(recs.map((s) => [s.id, s.type]).sort());
    expect(list.map((s) => s.type).sort()).toEqual(["active", "regular", "regular"]);
    const regular = recs.find((s) => s.type === "regular");
    const disks = await engine.snapshots.disks(id, regular?.id as string);
    const diskId = sim.state.vm("app01")?.attachments[0]?.diskId as string;
    expect(disks[0]?.imageId).toBe(sim.state.volumes(diskId).find((v) => v.snapshotId === regular?.id)?.id);
  });

  it("gives up at the deadline with the last state, and stops on abort", async () => {
    const hold = sim.faults.holdSnapshot();
    const snap = await engine.snapshots.add(vm("db01"), { description: "slow" });
    const err = await engine.snapshots
      .waitOk(vm("db01"), snap.id, { timeoutMs: 60, intervalMs: 10 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as WaitTimeoutError).lastState).toBe("locked");

    const ac = new AbortController();
    const waiting = engine.snapshots.waitOk(vm("db01"), snap.id, {
      timeoutMs: 60_000,
      intervalMs: 20,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 50);
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    hold.remove();
    await engine.snapshots.waitOk(vm("db01"), snap.id, { timeoutMs: 5000 });
  });
});

describe("disks, attachments, disk snapshots", () => {
  it("adds a disk with sizes as strings and the storage domain by name", async () => {
    const id = randomUUID();
    const imageId = randomUUID();
    const disk = await engine.disks.add({
      id,
      imageId,
      name: "restored_Disk1",
      format: "cow",
      sparse: true,
      provisionedSize: 21474836480n,
      initialSize: 1073741824n,
      storageDomain: { name: "data1" },
      contentType: "data",
    });
    expect(disk.status).toBe("locked");
    expect(json(last())).toEqual({
      id,
      image_id: imageId,
      name: "restored_Disk1",
      format: "cow",
      sparse: "true",
      provisioned_size: "21474836480",
      initial_size: "1073741824",
      content_type: "data",
      storage_domains: { storage_domain: [{ name: "data1" }] },
    });
    expect((await engine.disks.waitOk(id, { timeoutMs: 5000 })).imageId).toBe(imageId);
  });

  it("waits for a disk to be ok; illegal and 404 fail", async () => {
    const id = (
      await engine.disks.add({
        name: "wait-ok",
        format: "raw",
        sparse: true,
        provisionedSize: BigInt(MiB),
        storageDomain: { name: "data1" },
      })
    ).id;
    expect((await engine.disks.waitOk(id)).status).toBe("ok");
    expect(log.calls("GET", `/disks/${id}`)).toBeGreaterThanOrEqual(1);

    sim.faults.failOperation("disks.add.async", { status: 500 });
    const bad = await engine.disks.add({
      name: "ends-illegal",
      format: "raw",
      sparse: true,
      provisionedSize: BigInt(MiB),
      storageDomain: { name: "data1" },
    });
    await expect(engine.disks.waitOk(bad.id)).rejects.toMatchObject({ state: "illegal" });

    await engine.disks.remove(id);
    await expect(engine.disks.waitOk(id)).rejects.toMatchObject({ state: "removed" });
  });

  it("lists attachments with their disks inlined (follow=disk) and attaches with active sent", async () => {
    const rec = sim.state.vm("db01");
    const first = rec?.attachments[0];
    const path = `/vms/${vm("db01")}/diskattachments`;
    const list = await engine.diskAttachments.list(vm("db01"));
    expect(last().query.get("follow")).toBe("disk");
    expect(list[0]).toMatchObject({
      diskId: first?.diskId,
      bootable: first?.bootable,
      interface: first?.interface,
      active: first?.active,
    });
    expect(list[0]?.disk?.provisionedSize).toBe(
      BigInt(sim.state.disk(first?.diskId as string)?.provisionedSize ?? 0),
    );

    expect((await engine.diskAttachments.list(vm("db01"), { followDisk: false }))[0]?.disk).toBeUndefined();
    expect(last().query.has("follow")).toBe(false);

    const diskId = await newDisk(engine, "to-attach");
    await engine.diskAttachments.add(vm("db01"), { diskId, interface: "virtio_scsi", bootable: false });
    expect(last().path).toBe(path);
    expect(json(last())).toEqual({
      disk: { id: diskId },
      interface: "virtio_scsi",
      bootable: "false",
      active: "true",
    });
    expect(sim.state.vm("db01")?.attachments.some((a) => a.diskId === diskId)).toBe(true);
  });

  it("lists the volumes of a disk with include_active", async () => {
    const diskId = sim.state.vm("app01")?.attachments[0]?.diskId as string;
    const vols = await engine.diskSnapshots.listForDisk(diskId);
    expect(last().path).toBe(`/disks/${diskId}/disksnapshots`);
    expect(last().query.get("include_active")).toBe("true");
    const recs = sim.state.volumes(diskId);
    expect(recs.length).toBeGreaterThanOrEqual(3);
    expect(vols.map((v) => [v.id, v.parent?.id, v.format])).toEqual(
      recs.map((v) => [v.id, v.parentId ?? undefined, v.format]),
    );
    // A disk with a raw base (the overlays of snapshots are cow).
    const raw = sim.state.disks().find((d) => d.alias === "db01_Disk2")?.id as string;
    const rawVols = await engine.diskSnapshots.listForDisk(raw);
    expect(rawVols.map((v) => [v.id, v.parent?.id, v.format])).toEqual(
      sim.state.volumes(raw).map((v) => [v.id, v.parentId ?? undefined, v.format]),
    );
    expect(rawVols[0]?.format).toBe("raw");
  });

  it("falls back to the storage domain's disk snapshots on engines without the per-disk path", async () => {
    const diskId = await newDisk(oldEngine, "old-disk");
    await newDisk(oldEngine, "other-disk");
    oldLog.clear();
    const vols = await oldEngine.diskSnapshots.listForDisk(diskId);
    expect(vols.map((v) => v.id)).toEqual(old.state.volumes(diskId).map((v) => v.id));
    const sd = old.state.disk(diskId)?.storageDomainId;
    expect(api(oldLog).map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /disks/${diskId}/disksnapshots`,
      `GET /disks/${diskId}`,
      `GET /storagedomains/${sd}/disksnapshots`,
    ]);
    expect(last(oldLog).query.get("include_active")).toBe("true");
  });

  it("reports a missing disk as not found in the fallback", async () => {
    await expect(oldEngine.diskSnapshots.listForDisk(randomUUID())).rejects.toMatchObject({ status: 404 });
  });
});

describe("storage domains and clusters", () => {
  it("finds a storage domain by exact name and parses its sizes", async () => {
    const rec = sim.state.storageDomains().find((s) => s.name === "data1");
    const sd = await engine.storageDomains.byName("data1");
    expect(last().query.get("search")).toBe("name=data1");
    expect(sd).toMatchObject({ id: rec?.id, storageType: "nfs", blockSize: 512, master: true });
    expect(typeof sd.available).toBe("bigint");
    expect((sd.available ?? 0n) + (sd.used ?? 0n)).toBe(BigInt(rec?.capacity ?? 0));
    await expect(engine.storageDomains.byName("nope")).rejects.toThrow('no storage domain named "nope"');
  });

  it("lists clusters with their compatibility version", async () => {
    const [c] = await engine.clusters.list();
    expect(c).toMatchObject({
      name: "Default",
      version: "4.7",
      cpuType: "Secure Intel Cascadelake Server Family",
      dataCenter: { id: sim.state.raw().dataCenter.id },
    });
  });
});

describe("image transfers", () => {
  it("adds a transfer with every option in the engine's spelling", async () => {
    const diskId = sim.state.vm("app01")?.attachments[0]?.diskId as string;
    const volume = sim.state.volumes(diskId)[1]?.id as string;
    const host = sim.state.raw().host.id;
    const t = await engine.imageTransfers.add({
      direction: "download",
      snapshot: volume,
      format: "raw",
      shallow: true,
      inactivityTimeout: 3600,
      timeoutPolicy: "cancel",
      host: { id: host },
    });
    expect(t.phase).toBe("initializing");
    expect(json(last())).toEqual({
      direction: "download",
      snapshot: { id: volume },
      format: "raw",
      shallow: "true",
      inactivity_timeout: "3600",
      timeout_policy: "cancel",
      host: { id: host },
    });
    await engine.imageTransfers.waitTransferring(t.id);
    await engine.imageTransfers.cancel(t.id);
    await settled(sim, t.id);
    await expect(engine.imageTransfers.add({ direction: "upload" })).rejects.toThrow(/exactly one target/);
    await expect(
      engine.imageTransfers.add({ direction: "download", snapshot: volume, backup: "b" }),
    ).rejects.toThrow(/backup image transfer needs the disk/);
  });

  it("starts: waits from initializing to transferring and returns the URLs", async () => {
    const diskId = await newDisk(engine, "start");
    const t = await engine.imageTransfers.start({ direction: "download", disk: diskId });
    const rec = sim.state.transfers().find((x) => x.id === t.id);
    expect(t.phase).toBe("transferring");
    expect(t.transferUrl).toBe(`${sim.imageioUrl}/images/${rec?.ticketId}`);
    expect(t.proxyUrl).toBe(`${sim.proxyUrl}/images/${rec?.ticketId}`);
    expect(t.inactivityTimeout).toBe(rec?.inactivityTimeout);
    expect(t.transferred).toBe(0n);
    expect(log.calls("GET", `/imagetransfers/${t.id}`)).toBeGreaterThanOrEqual(1);
    await engine.imageTransfers.finalizeAndWait(t.id);
  });

  type Case = { old?: boolean; direction: "upload" | "download"; faults(s: Simulator): void };
  it.each<[string, Case]>([
    // The host refuses the ticket: an upload pauses.
    [
      "paused_system",
      {
        direction: "upload",
        faults: (s) => s.faults.failOperation("imagetransfers.ticket", { status: 500 }),
      },
    ],
    // A download is cancelled instead (held there, so the client sees it before the cleanup phases).
    [
      "cancelled_system",
      {
        direction: "download",
        faults: (s) => {
          s.faults.failOperation("imagetransfers.ticket", { status: 500 });
          s.faults.holdTransfer({ phase: "cancelled_system" });
        },
      },
    ],
    // Preparing the image on the host fails.
    [
      "finished_failure",
      { direction: "upload", faults: (s) => s.faults.failOperation("imagetransfers.init", { status: 500 }) },
    ],
    // The same on an old engine, which deletes the transfer as it ends.
    [
      "removed",
      {
        old: true,
        direction: "upload",
        faults: (s) => s.faults.failOperation("imagetransfers.init", { status: 500 }),
      },
    ],
  ])("fails to start when the transfer goes %s, naming it, and cancels", async (phase, c) => {
    const s = c.old ? old : sim;
    const e = c.old ? oldEngine : engine;
    const l = c.old ? oldLog : log;
    const diskId = await newDisk(e, `start-${phase}`);
    c.faults(s);
    const err = await e.imageTransfers
      .start({ direction: c.direction, disk: diskId })
      .catch((x: unknown) => x);
    expect(err).toBeInstanceOf(ImageTransferFailedError);
    expect((err as ImageTransferFailedError).state).toBe(phase);
    expect((err as Error).message).toContain(phase);
    const id = (err as ImageTransferFailedError).id;
    expect(l.calls("POST", `/imagetransfers/${id}/cancel`)).toBe(1);
  });

  it("finalizes and waits for finished_success", async () => {
    const diskId = await newDisk(engine, "finalize");
    const t = await engine.imageTransfers.start({ direction: "download", disk: diskId });
    const out = await engine.imageTransfers.finalizeAndWait(t.id);
    expect(out).toEqual({ id: t.id, confirmedBy: "phase" });
    expect(json(find(log, "POST", `/imagetransfers/${t.id}/finalize`))).toEqual({});
  });

  it("falls back to the disk when an old engine deletes the finished transfer (404)", async () => {
    const diskId = await newDisk(oldEngine, "old-finalize");
    const t = await oldEngine.imageTransfers.start({ direction: "download", disk: diskId });
    expect(await oldEngine.imageTransfers.finalizeAndWait(t.id)).toEqual({ id: t.id, confirmedBy: "disk" });
    expect(oldLog.calls("GET", `/disks/${diskId}`)).toBeGreaterThanOrEqual(1);
  });

  it("reads a removed disk after the 404 as a failed upload", async () => {
    // A cancelled upload: the engine removes its disk and (being old) the transfer with it.
    const diskId = await newDisk(oldEngine, "old-cancelled");
    const t = await oldEngine.imageTransfers.start({ direction: "upload", disk: diskId });
    await oldEngine.imageTransfers.cancel(t.id);
    await settled(old, t.id);
    const err = await oldEngine.imageTransfers.waitFinished(t.id, { diskId }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageTransferFailedError);
    expect((err as ImageTransferFailedError).state).toBe("removed");
  });

  it("reads an illegal disk after the 404 as a failure", async () => {
    // The engine could not finalize the upload (paused_system, disk left illegal); once cancelled, the old
    // engine deletes the transfer and the disk stays illegal.
    const diskId = await newDisk(oldEngine, "old-illegal");
    const t = await oldEngine.imageTransfers.start({ direction: "upload", disk: diskId });
    old.faults.failOperation("imagetransfers.finalize.async", { status: 500 });
    await oldEngine.imageTransfers.finalize(t.id);
    await until(
      "the transfer to pause",
      () => old.state.transfers().find((x) => x.id === t.id)?.phase === "paused_system",
    );
    await oldEngine.imageTransfers.cancel(t.id);
    await settled(old, t.id);
    await expect(oldEngine.imageTransfers.waitFinished(t.id, { diskId })).rejects.toMatchObject({
      state: "illegal",
    });
  });

  it("fails on finished_failure and on paused_system after finalize", async () => {
    const diskId = await newDisk(engine, "verify-fails");
    const t = await engine.imageTransfers.start({ direction: "upload", disk: diskId });
    sim.faults.failOperation("imagetransfers.verify", { status: 500 });
    // Held, so that the client sees the phase before the engine moves on to finished_failure.
    sim.faults.holdTransfer({ phase: "finalizing_failure", transferId: t.id });
    await engine.imageTransfers.finalize(t.id);
    await expect(engine.imageTransfers.waitFinished(t.id)).rejects.toMatchObject({
      state: "finalizing_failure",
    });

    const other = await newDisk(engine, "finalize-fails");
    const u = await engine.imageTransfers.start({ direction: "upload", disk: other });
    sim.faults.failOperation("imagetransfers.finalize.async", { status: 500 });
    await engine.imageTransfers.finalize(u.id);
    await expect(engine.imageTransfers.waitFinished(u.id)).rejects.toThrow(/manual cleanup/);
    expect(sim.state.disk(other)?.status).toBe("illegal");
  });

  it("cancels with an empty action body", async () => {
    const diskId = await newDisk(engine, "cancel");
    const t = await engine.imageTransfers.start({ direction: "download", disk: diskId });
    await engine.imageTransfers.cancel(t.id);
    expect(last().path).toBe(`/imagetransfers/${t.id}/cancel`);
    expect(json(last())).toEqual({});
    await settled(sim, t.id);
  });

  it("lists transfers, `{}` when there are none", async () => {
    // The old engine keeps no finished transfer: once the earlier ones ended, there are none.
    for (const t of old.state.transfers()) await oldEngine.imageTransfers.cancel(t.id).catch(() => undefined);
    await until("no transfers", () => old.state.transfers().length === 0);
    expect(await oldEngine.imageTransfers.list()).toEqual([]);
    const diskId = await newDisk(oldEngine, "listed");
    const t = await oldEngine.imageTransfers.start({ direction: "download", disk: diskId });
    expect((await oldEngine.imageTransfers.list())[0]?.disk?.id).toBe(diskId);
    expect(last(oldLog).path).toBe("/imagetransfers");
    await oldEngine.imageTransfers.finalizeAndWait(t.id);
  });
});
