import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type Simulator, startSimulator } from "@lifeboat/ovirt-sim";
import { checkAllVolumes, FAST_SIM } from "@lifeboat/ovirt-sim/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineClient, EngineError } from "../src/engine";
import { ImageioTicket } from "../src/imageio";

/**
 * The simulator's second conformance layer: ovirt-core's own engine and imageio clients against it over HTTPS
 * (snapshot-chain backup and a layer upload, as the backup/restore flows use them); afterwards every volume
 * the simulator wrote passes `qemu-img check`.
 */
let t: { sim: Simulator; dir: string };
let engine: EngineClient;

beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "ovirt-sim-clients-"));
  t = { sim: await startSimulator({ dataDir: dir, ...FAST_SIM }), dir };
  engine = new EngineClient({
    url: t.sim.engineUrl,
    username: t.sim.adminUser,
    password: t.sim.adminPassword,
    caPem: t.sim.caPem,
    pollIntervalMs: 20,
  });
});
afterAll(async () => {
  await engine.close();
  await t.sim.stop();
  await checkAllVolumes(t.dir);
  await rm(t.dir, { recursive: true, force: true });
});

/** Polls the snapshot until the engine answers 404 for it. */
async function waitSnapshotGone(vmId: string, snapshotId: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await engine.snapshots.get(vmId, snapshotId);
    } catch (e) {
      if (e instanceof EngineError && e.isNotFound) return;
      throw e;
    }
    if (Date.now() > deadline) throw new Error(`timeout waiting for snapshot ${snapshotId} to go`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const wait = { timeoutMs: 20_000, intervalMs: 20 };

describe("ovirt-core clients against the simulator", () => {
  it("backs up a VM's chain: OVF, temporary snapshot, every layer downloaded byte for byte", async () => {
    const vm = await engine.vms.findByName("app01", { allContent: true });
    expect(vm).toBeDefined();
    const id = vm?.id as string;
    const ovf = await engine.vms.ovf(id);
    expect(ovf.startsWith('<?xml version="1.0" encoding="UTF-8"?><ovf:Envelope')).toBe(true);
    const snap = await engine.snapshots.create(id, { description: "lifeboat backup" }, wait);
    expect(snap.status).toBe("ok");
    const [att] = await engine.diskAttachments.list(id);
    const diskId = att?.diskId;
    const chain = await engine.diskSnapshots.listForDisk(diskId as string);
    expect(chain).toHaveLength(4);
    const active = (await engine.disks.get(diskId as string)).imageId;
    for (const layer of chain.filter((c) => c.id !== active)) {
      const tr = await engine.imageTransfers.start({ direction: "download", snapshot: layer.id }, wait);
      const ticket = await ImageioTicket.open(
        { transferUrl: tr.transferUrl as string, proxyUrl: tr.proxyUrl },
        { caPem: t.sim.caPem },
      );
      const out = path.join(t.dir, `backup-${layer.id}`);
      await ticket.downloadToFile(out);
      await ticket.close();
      await engine.imageTransfers.finalizeAndWait(tr.id, { ...wait, diskId });
      const vol = t.sim.state.volumes(diskId as string).find((v) => v.id === layer.id);
      expect((await readFile(out)).equals(await readFile(vol?.path as string))).toBe(true);
    }
    // The temporary snapshot goes away again (merge), as the backup flow cleans up.
    await engine.snapshots.remove(id, snap.id);
    await waitSnapshotGone(id, snap.id);
  });

  it("uploads a layer through the imageio client (falling back to the proxy) and the engine verifies it", async () => {
    const web = await engine.vms.findByName("web01");
    const [att] = await engine.diskAttachments.list(web?.id as string);
    const srcDisk = await engine.disks.get(att?.diskId as string);
    const srcVol = t.sim.state.volumes(srcDisk.id)[0];
    const disk = await engine.disks.add({
      name: "restored",
      format: "cow",
      sparse: true,
      provisionedSize: srcDisk.provisionedSize ?? 0,
      storageDomain: { name: "data1" },
    });
    await engine.disks.waitOk(disk.id, wait);
    const unreachable = t.sim.faults.makeTransferUrlUnreachable();
    const tr = await engine.imageTransfers.start({ direction: "upload", disk: disk.id }, wait);
    const ticket = await ImageioTicket.open(
      { transferUrl: tr.transferUrl as string, proxyUrl: tr.proxyUrl },
      { caPem: t.sim.caPem },
    );
    unreachable.remove();
    expect(ticket.usedProxy).toBe(true);
    await ticket.upload(srcVol?.path as string);
    await ticket.close();
    const outcome = await engine.imageTransfers.finalizeAndWait(tr.id, { ...wait, diskId: disk.id });
    expect(outcome.confirmedBy).toBe("phase");
    const size = Number(srcDisk.provisionedSize);
    expect(
      (await t.sim.guest.read(disk.id, 0, size)).equals(await t.sim.guest.read(srcDisk.id, 0, size)),
    ).toBe(true);
  });
});
