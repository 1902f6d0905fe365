import { randomUUID } from "node:crypto";
import type { Repository } from "@lifeboat/repository";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BackupResult,
  backupVm,
  type EngineObjectRecord,
  FlowError,
  type RestoreVmResult,
  restoreVm,
} from "../src/flows";
import { outstanding } from "../src/flows/cleanup";
import { ImageioTicket } from "../src/imageio";
import {
  activeVolumePath,
  engineLeftovers,
  type FlowHarness,
  guestOf,
  qemuInfo,
  qemuSame,
  repositoryKnownLayer,
  startHarness,
} from "./flows-support/harness";

let h: FlowHarness;

beforeAll(async () => {
  h = await startHarness();
}, 60_000);
afterAll(async () => {
  await h?.stop();
}, 60_000);

/** The guest data of every disk of a VM, by disk id. */
async function guests(vmName: string): Promise<Map<string, Buffer>> {
  const vm = h.sim.state.vm(vmName);
  if (!vm) throw new Error(`no VM ${vmName}`);
  const out = new Map<string, Buffer>();
  for (const a of vm.attachments) out.set(a.diskId, await guestOf(h.sim, a.diskId));
  return out;
}

/** Guest data maps compared with Buffer.equals (deep equality on 64 MiB buffers is far too slow). */
function sameGuests(a: Map<string, Buffer>, b: Map<string, Buffer>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k)?.equals(v) === true);
}

async function backup(
  vmName: string,
  repository: Repository,
  extra: { keepSnapshot?: boolean; known?: boolean } = {},
): Promise<BackupResult & { records: EngineObjectRecord[] }> {
  const vm = h.sim.state.vm(vmName);
  if (!vm) throw new Error(`no VM ${vmName}`);
  const hooks = h.hooks();
  const r = await backupVm({
    ...hooks,
    engine: h.engine,
    imageio: h.imageio,
    vmId: vm.id,
    repository,
    restorePointId: randomUUID(),
    jobRef: `test ${vmName}`,
    keepSnapshot: extra.keepSnapshot,
    knownLayer: extra.known === false ? undefined : repositoryKnownLayer(repository),
  });
  return { ...r, records: hooks.records };
}

async function restore(
  result: BackupResult,
  repository: Repository,
  name: string,
  identity?: "auto" | "new" | "original",
): Promise<RestoreVmResult & { records: EngineObjectRecord[] }> {
  const hooks = h.hooks();
  const r = await restoreVm({
    ...hooks,
    engine: h.engine,
    imageio: h.imageio,
    repository,
    restorePoint: result.restorePoint,
    target: { name, identity },
  });
  return { ...r, records: hooks.records };
}

/** Each restored disk holds the expected guest data, by the sim's guest read and by qemu-img compare. */
async function expectRestoredData(
  res: RestoreVmResult,
  expected: Map<string, Buffer>,
  originalPaths?: Map<string, string>,
) {
  for (const d of res.disks) {
    const want = expected.get(d.sourceDiskId);
    expect(want, `disk ${d.sourceDiskId} expected`).toBeDefined();
    expect((await guestOf(h.sim, d.diskId)).equals(want as Buffer)).toBe(true);
    const orig = originalPaths?.get(d.sourceDiskId);
    if (orig) expect(await qemuSame(activeVolumePath(h.sim, d.diskId), orig)).toBe(true);
  }
}

describe("backup and restore of every demo VM", { timeout: 120_000 }, () => {
  let repo: Repository;
  beforeAll(async () => {
    repo = await h.newRepository("all");
  });

  for (const name of ["web01", "db01", "app01"]) {
    it(`${name}: backed up, then restored beside the original with new ids and the same guest data`, async () => {
      const original = h.sim.state.vm(name);
      if (!original) throw new Error(name);
      const before = await guests(name);
      const b = await backup(name, repo);

      // The chain of every disk is complete, base first, and the engine is left as it was.
      const point = await repo.readRestorePoint(b.restorePoint.id);
      expect(point.disks.map((d) => d.diskId).sort()).toEqual([...before.keys()].sort());
      for (const d of b.disks) {
        const volumes = h.sim.state.volumes(d.diskId).map((v) => v.id);
        expect(d.layers.map((l) => l.imageId)).toEqual(volumes.slice(0, d.layers.length));
        expect(d.layers[0]?.parentImageId).toBeNull();
        for (const [i, l] of d.layers.entries())
          if (i > 0) expect(l.parentImageId).toBe(d.layers[i - 1]?.imageId);
        expect(d.layers.every((l) => !l.reused && l.imageioChecksum)).toBe(true);
      }
      expect(b.disks.map((d) => d.layers.length)).toEqual(
        name === "app01" ? [3] : name === "db01" ? [1, 1] : [1],
      );
      expect(b.snapshot.kept).toBe(false);
      expect(b.leftovers).toEqual([]);
      expect(engineLeftovers(h.sim)).toEqual([]);
      expect(outstanding(b.records)).toEqual([]);
      expect(sameGuests(await guests(name), before)).toBe(true);

      const paths = new Map([...before.keys()].map((id) => [id, activeVolumePath(h.sim, id)]));
      const r = await restore(b, repo, `${name}-copy`);
      expect(r.identity).toBe("new");
      expect(
        outstanding(r.records)
          .map((x) => x.kind)
          .sort(),
      ).toEqual(
        [
          ...Array(b.disks.length).fill("disk"),
          "vm",
          ...Array(Math.max(...b.disks.map((d) => d.layers.length)) - 1).fill("snapshot"),
        ].sort(),
      );
      await expectRestoredData(r, before, paths);

      const vm = h.sim.state.vm(r.vmId);
      expect(vm?.name).toBe(`${name}-copy`);
      expect(r.vmId).not.toBe(original.id);
      // New disk and volume ids; each restored qcow2 names its NEW parent as backing file.
      for (const d of r.disks) {
        expect(d.diskId).not.toBe(d.sourceDiskId);
        const src = b.disks.find((x) => x.diskId === d.sourceDiskId);
        expect(d.imageIds.some((id) => src?.layers.some((l) => l.imageId === id))).toBe(false);
        const vols = h.sim.state.volumes(d.diskId);
        expect(vols.map((v) => v.id)).toEqual(d.imageIds);
        for (const [i, v] of vols.entries()) {
          const info = await qemuInfo(v.path);
          if (i === 0) expect(info["backing-filename"]).toBeUndefined();
          else expect(info["backing-filename"]).toBe(d.imageIds[i - 1]);
        }
        const a = vm?.attachments.find((x) => x.diskId === d.diskId);
        const o = original.attachments.find((x) => x.diskId === d.sourceDiskId);
        expect(a && { i: a.interface, b: a.bootable, on: a.active }).toEqual(
          o && { i: o.interface, b: o.bootable, on: true },
        );
      }
      expect(vm?.attachments.length).toBe(original.attachments.length);
      // MACs come from the pool again, never the original's.
      expect(vm?.nics.length).toBe(original.nics.length);
      for (const n of vm?.nics ?? []) expect(original.nics.map((x) => x.mac)).not.toContain(n.mac);
      if (name === "app01") {
        const descriptions = h.sim.state.snapshots(r.vmId).map((s) => s.description);
        expect(descriptions).toEqual(expect.arrayContaining(["before-upgrade", "after-upgrade"]));
      }
      expect(engineLeftovers(h.sim)).toEqual([]);
    });
  }

  it("refuses to restore with the original ids while the original exists, creating nothing", async () => {
    const b = await backup("web01", repo);
    const vmsBefore = h.sim.state.vms().length;
    const disksBefore = h.sim.state.disks().length;
    const err = await restore(b, repo, "web01-orig", "original").catch((e) => e);
    expect(err).toBeInstanceOf(FlowError);
    expect((err as FlowError).message).toMatch(
      /cannot restore with the original ids: VM web01, disk web01_Disk1 still exist/,
    );
    expect(h.sim.state.vms().length).toBe(vmsBefore);
    expect(h.sim.state.disks().length).toBe(disksBefore);
  });

  it("restores the original ids once the original VM and its disks are gone (disaster recovery)", async () => {
    const original = h.sim.state.vm("db01");
    if (!original) throw new Error("db01");
    const before = await guests("db01");
    const b = await backup("db01", repo);
    await h.engine.vms.remove(original.id);
    await expect.poll(() => h.sim.state.vm(original.id), { timeout: 10_000 }).toBeUndefined();
    expect(h.sim.state.disk(original.attachments[0]?.diskId ?? "")).toBeUndefined();

    const r = await restore(b, repo, "db01");
    expect(r.identity).toBe("original");
    expect(r.vmId).toBe(original.id);
    for (const d of r.disks) {
      expect(d.diskId).toBe(d.sourceDiskId);
      expect(d.imageIds).toEqual(b.disks.find((x) => x.diskId === d.diskId)?.layers.map((l) => l.imageId));
    }
    await expectRestoredData(r, before);
    const vm = h.sim.state.vm(r.vmId);
    expect(vm?.nics.map((n) => n.mac).sort()).toEqual(original.nics.map((n) => n.mac).sort());
    expect(vm?.attachments.map((a) => [a.diskId, a.interface, a.bootable]).sort()).toEqual(
      original.attachments.map((a) => [a.diskId, a.interface, a.bootable]).sort(),
    );
    expect(engineLeftovers(h.sim)).toEqual([]);
  });
});

describe("incremental behaviour", { timeout: 120_000 }, () => {
  it("default (snapshot removed): a second backup downloads only the changed top layer; each point restores its own data", async () => {
    const repo = await h.newRepository("incr");
    const g1 = await guests("app01");
    const b1 = await backup("app01", repo);
    expect(b1.disks[0]?.layers.map((l) => l.reused)).toEqual([false, false, false]);
    expect(b1.transferredBytes).toBe(b1.disks[0]?.layers.reduce((s, l) => s + l.size, 0));

    await h.sim.guest.write("app01", 2, { seed: 11 });
    const g2 = await guests("app01");
    expect(sameGuests(g2, g1)).toBe(false);
    const b2 = await backup("app01", repo);
    const l2 = b2.disks[0]?.layers ?? [];
    // The snapshot merge kept the volume ids; only the top one changed.
    expect(l2.map((l) => l.imageId)).toEqual(b1.disks[0]?.layers.map((l) => l.imageId));
    expect(l2.map((l) => l.reused)).toEqual([true, true, false]);
    expect(l2[0]?.layerId).toBe(b1.disks[0]?.layers[0]?.layerId);
    expect(b2.transferredBytes).toBe(l2[2]?.size);

    // Unchanged since: nothing downloaded at all.
    const b3 = await backup("app01", repo);
    expect(b3.disks[0]?.layers.map((l) => l.reused)).toEqual([true, true, true]);
    expect(b3.transferredBytes).toBe(0);
    expect(b3.newStoredBytes).toBe(0);

    const r1 = await restore(b1, repo, "app01-p1");
    await expectRestoredData(r1, g1);
    const r2 = await restore(b2, repo, "app01-p2");
    await expectRestoredData(r2, g2);
    expect((await repo.verify()).ok).toBe(true);
  });

  it("keepSnapshot: the next backup downloads only the new top volume", async () => {
    const repo = await h.newRepository("keep");
    const b1 = await backup("web01", repo, { keepSnapshot: true });
    expect(b1.snapshot.kept).toBe(true);
    expect(h.sim.state.snapshots().some((s) => s.id === b1.snapshot.id)).toBe(true);
    const g1 = await guests("web01");

    const b2 = await backup("web01", repo, { keepSnapshot: true });
    const l2 = b2.disks[0]?.layers ?? [];
    expect(l2.map((l) => l.reused)).toEqual([true, false]);
    // Only the (empty) volume on top of the kept snapshot crossed the network.
    expect(b2.transferredBytes).toBe(l2[1]?.size);
    expect(b2.transferredBytes).toBeLessThan(l2[0]?.size ?? 0);

    await h.sim.guest.write("web01", 1, { seed: 5 });
    const g3 = await guests("web01");
    const b3 = await backup("web01", repo);
    expect(b3.disks[0]?.layers.map((l) => l.reused)).toEqual([true, true, false]);
    expect(b3.snapshot.kept).toBe(false);
    expect(engineLeftovers(h.sim, [b1.snapshot.id, b2.snapshot.id])).toEqual([]);

    await expectRestoredData(await restore(b1, repo, "web01-k1"), g1);
    await expectRestoredData(await restore(b3, repo, "web01-k3"), g3);
  });

  it("two VMs backed up at the same time into one repository", async () => {
    const repo = await h.newRepository("concurrent");
    const ga = await guests("web01");
    const gb = await guests("db01");
    // Snapshots kept by the test before are not this test's business.
    const keptBefore = h.sim.state.snapshots().map((s) => s.id);
    const engineB = h.newEngine();
    const [a, b] = await Promise.all([
      backup("web01", repo, { known: false }),
      backupVm({
        engine: engineB,
        imageio: h.imageio,
        vmId: h.sim.state.vm("db01")?.id ?? "",
        repository: repo,
        restorePointId: randomUUID(),
        jobRef: "concurrent db01",
      }),
    ]);
    expect((await repo.listRestorePoints()).map((p) => p.id).sort()).toEqual(
      [a.restorePoint.id, b.restorePoint.id].sort(),
    );
    expect((await repo.verify()).ok).toBe(true);
    expect(engineLeftovers(h.sim, keptBefore)).toEqual([]);
    await expectRestoredData(await restore(a, repo, "web01-c"), ga);
    await expectRestoredData(await restore(b, repo, "db01-c"), gb);
  });
});

describe("imageio checksum", { timeout: 60_000 }, () => {
  it("is stable for a volume and differs between volumes", async () => {
    const disk = h.sim.state.vm("app01")?.attachments[0]?.diskId ?? "";
    const vols = h.sim.state.volumes(disk);
    const sums: string[] = [];
    for (const v of [vols[0], vols[0], vols[1]]) {
      const t = await h.engine.imageTransfers.start({ direction: "download", snapshot: v?.id ?? "" });
      const ticket = await ImageioTicket.open({ transferUrl: t.transferUrl ?? "" }, { caPem: h.sim.caPem });
      const c = await ticket.checksum();
      expect(c.algorithm).toBe("blake2b");
      expect(c.blockSize).toBe(4 * 1024 * 1024);
      sums.push(c.checksum);
      await ticket.close();
      await h.engine.imageTransfers.finalizeAndWait(t.id);
    }
    expect(sums[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(sums[1]).toBe(sums[0]);
    expect(sums[2]).not.toBe(sums[0]);
  });
});
