import path from "node:path";
import type { Person } from "@lifeboat/domain";
import {
  checkRestoreName,
  decideApproval,
  jobEvents,
  restoreTargets,
  startBackup,
  startRestoreDisk,
  startRestoreVm,
  visibleJob,
} from "@lifeboat/domain";
import { EngineClient } from "@lifeboat/ovirt-core";
import { startSimulator } from "@lifeboat/ovirt-sim";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  activeVolumePath,
  eventsOf,
  FAST_SIM,
  guestHash,
  qemuSame,
  registerEngine,
  type Stack,
  simLeftovers,
  startStack,
  vmGuestHashes,
} from "./support/stack";

let s: Stack;
let approver: Person;

beforeAll(async () => {
  s = await startStack();
  await s.startWorker();
  approver = await s.member("approver");
});
afterAll(async () => {
  await s?.stop();
});

/** Guest hashes of every VM when its first backup ran, by VM name then disk id. */
const atFirstBackup = new Map<string, Map<string, string>>();
const firstPoint = new Map<string, string>();
/** Temporary snapshots that stay on purpose (kept by a backup, and their copies on VMs restored from it). */
const keptSnapshots: string[] = [];

async function backup(name: string, opts: { keepSnapshot?: boolean } = {}) {
  const vm = await s.vmRow(name);
  const hashes = await vmGuestHashes(s.sim, name);
  const { jobId } = await s.run(s.operator, "backup:create", (c) =>
    startBackup(c, c.actor, { vmId: vm.id, ...opts }),
  );
  return { jobId, hashes, vm };
}

async function restore(restorePointId: string, name: string) {
  const started = await s.run(s.operator, "restore:request", (c) =>
    startRestoreVm(c, c.actor, { restorePointId, name }),
  );
  if (started.status !== "queued") throw new Error(`restore of ${name} waits for approval: ${started.why}`);
  const job = await s.waitJob(started.jobId, ["succeeded"]);
  return job.result as {
    vmId: string;
    identity: string;
    disks: Array<{ sourceDiskId: string; diskId: string }>;
  };
}

/** The restored VM's disks hold what the source disks held (guest view, and qemu-img compare of the chains). */
async function expectSameGuests(
  restored: { disks: Array<{ sourceDiskId: string; diskId: string }> },
  expected: Map<string, string>,
  sourcePaths?: Map<string, string>,
) {
  expect(restored.disks).toHaveLength(expected.size);
  for (const d of restored.disks) {
    expect(await guestHash(s.sim, d.diskId)).toBe(expected.get(d.sourceDiskId));
    const src = sourcePaths?.get(d.sourceDiskId);
    if (src) expect(await qemuSame(src, activeVolumePath(s.sim, d.diskId))).toBe(true);
  }
}

describe("backup and restore through the API and a real worker", () => {
  it("backs up every demo VM and restores each beside the original with the same guest data", async () => {
    const names = ["web01", "db01", "app01"];
    const started = await Promise.all(names.map((n) => backup(n)));
    for (const [i, b] of started.entries()) {
      const name = names[i] as string;
      const job = await s.waitJob(b.jobId, ["succeeded"]);
      const rp = await s.t.db.restorePoint.findUniqueOrThrow({
        where: { id: job.restorePointId ?? "" },
        include: { disks: { include: { layers: { orderBy: { position: "asc" } } } } },
      });
      const simVm = s.sim.state.vm(name);
      expect(rp).toMatchObject({ state: "complete", vmName: name, jobId: b.jobId, snapshotKept: false });
      expect(rp.disks).toHaveLength(b.hashes.size);
      expect(rp.nicCount).toBe(simVm?.nics.length);
      expect(rp.osType).toBe(simVm?.osType);
      expect(rp.searchText).toContain(name);
      for (const d of rp.disks) {
        expect(rp.searchText).toContain(d.alias.toLowerCase());
        expect(d.layers.length).toBe(s.sim.state.volumes(d.diskId).length);
        for (const [j, l] of d.layers.entries()) {
          expect(l.parentImageId).toBe(j === 0 ? null : d.layers[j - 1]?.imageId);
          expect(l.imageioChecksum).toBeTruthy();
          expect(l.reused).toBe(false);
        }
      }
      const vmRow = await s.t.db.vm.findUniqueOrThrow({ where: { id: b.vm.id } });
      expect(vmRow).toMatchObject({ osType: simVm?.osType, diskCount: b.hashes.size, goneAt: null });
      // The job as users see it: done, with its journal of engine objects, nothing left behind.
      const view = await s.run(s.operator, "job:read", (c) => visibleJob(c.db, c.actor, b.jobId));
      expect(view).toMatchObject({ state: "succeeded", phase: null, attempts: 1, leftovers: [] });
      expect(view.bytesDone).toBeGreaterThan(0);
      const events = await s.run(s.operator, "job:read", (c) =>
        jobEvents(c.db, c.actor, b.jobId, { limit: 200 }),
      );
      const journal = events.items.filter((e) => e.step === "engine-object").map((e) => e.message);
      expect(journal.filter((m) => m.startsWith("created snapshot"))).toHaveLength(1);
      expect(journal.filter((m) => m.startsWith("removed snapshot"))).toHaveLength(1);
      expect(journal.filter((m) => m.startsWith("created image transfer")).length).toBe(
        journal.filter((m) => m.startsWith("removed image transfer")).length,
      );
      atFirstBackup.set(name, b.hashes);
      firstPoint.set(name, rp.id);
    }
    expect(simLeftovers(s.sim)).toEqual([]);

    for (const name of names) {
      const paths = new Map(
        [...(atFirstBackup.get(name) ?? new Map()).keys()].map((d) => [d, activeVolumePath(s.sim, d)]),
      );
      const restored = await restore(firstPoint.get(name) as string, `${name}-copy`);
      // The original still exists: the copy gets new ids.
      expect(restored.identity).toBe("new");
      expect(restored.vmId).not.toBe(s.sim.state.vm(name)?.id);
      await expectSameGuests(restored, atFirstBackup.get(name) as Map<string, string>, paths);
    }
    expect(simLeftovers(s.sim)).toEqual([]);
    expect((await (await s.repository()).verify()).ok).toBe(true);
  });

  it("a second backup after guest writes downloads only the changed layers, and each point restores its own data", async () => {
    const first = await s.t.db.restorePoint.findUniqueOrThrow({
      where: { id: firstPoint.get("app01") ?? "" },
      include: { disks: { include: { layers: true } } },
    });
    await s.sim.guest.write("app01", 2, { seed: 7 });
    const b = await backup("app01");
    const job = await s.waitJob(b.jobId, ["succeeded"]);
    const second = await s.t.db.restorePoint.findUniqueOrThrow({
      where: { id: job.restorePointId ?? "" },
      include: { disks: { include: { layers: { orderBy: { position: "asc" } } } } },
    });
    const layers = second.disks.flatMap((d) => d.layers);
    const reused = layers.filter((l) => l.reused);
    // app01 has two snapshots below its active volume: the base and the older snapshot did not change.
    expect(reused.length).toBeGreaterThanOrEqual(2);
    expect(layers.filter((l) => !l.reused).length).toBeLessThan(layers.length);
    expect(Number(second.transferredBytes)).toBeLessThan(Number(first.transferredBytes));
    // A reused layer is the very same repository layer as before.
    const firstLayers = new Map(first.disks.flatMap((d) => d.layers).map((l) => [l.imageId, l.manifestId]));
    for (const l of reused) expect(l.manifestId).toBe(firstLayers.get(l.imageId));
    expect(job.result).toMatchObject({ reusedLayers: reused.length });

    const older = await restore(first.id, "app01-then");
    await expectSameGuests(older, atFirstBackup.get("app01") as Map<string, string>);
    const newer = await restore(second.id, "app01-now");
    await expectSameGuests(newer, b.hashes);
    expect([...b.hashes.values()]).not.toEqual([...(atFirstBackup.get("app01")?.values() ?? [])]);
    expect(simLeftovers(s.sim)).toEqual([]);
  });

  it("keeps the temporary snapshot when asked, and then downloads only the new top layer", async () => {
    const kept = await backup("web01", { keepSnapshot: true });
    const j1 = await s.waitJob(kept.jobId, ["succeeded"]);
    const rp1 = await s.t.db.restorePoint.findUniqueOrThrow({ where: { id: j1.restorePointId ?? "" } });
    expect(rp1.snapshotKept).toBe(true);
    expect(s.sim.state.snapshots().some((x) => x.id === rp1.snapshotId)).toBe(true);
    await s.sim.guest.write("web01", 1, { seed: 11 });
    const next = await backup("web01");
    const j2 = await s.waitJob(next.jobId, ["succeeded"]);
    const rp2 = await s.t.db.restorePoint.findUniqueOrThrow({
      where: { id: j2.restorePointId ?? "" },
      include: { disks: { include: { layers: { orderBy: { position: "asc" } } } } },
    });
    const layers = rp2.disks.flatMap((d) => d.layers);
    expect(layers.filter((l) => !l.reused).map((l) => l.position)).toEqual([layers.length - 1]);
    keptSnapshots.push(rp1.snapshotId ?? "");
    expect(simLeftovers(s.sim, keptSnapshots)).toEqual([]);
    const latest = await restore(rp2.id, "web01-latest");
    await expectSameGuests(latest, next.hashes);
    // The restored VM recreates the snapshot that owned each layer, the kept one included.
    keptSnapshots.push(...s.sim.state.snapshots(latest.vmId).map((x) => x.id));
    expect(simLeftovers(s.sim, keptSnapshots)).toEqual([]);
  });

  it("restores one disk as a new floating disk", async () => {
    const rpId = firstPoint.get("db01") as string;
    const rp = await s.t.db.restorePoint.findUniqueOrThrow({ where: { id: rpId }, include: { disks: true } });
    const source = rp.disks.find((d) => d.position === 1) ?? rp.disks[0];
    if (!source) throw new Error("db01 has no disk");
    const started = await s.run(s.operator, "restore:request", (c) =>
      startRestoreDisk(c, c.actor, {
        restorePointId: rpId,
        diskId: source.diskId,
        alias: "db01-data-copy",
      }),
    );
    if (started.status !== "queued") throw new Error("the disk restore waits for approval");
    const job = await s.waitJob(started.jobId, ["succeeded"]);
    const diskId = (job.result as { diskId: string }).diskId;
    expect(s.sim.state.disk(diskId)?.alias).toBe("db01-data-copy");
    expect(await guestHash(s.sim, diskId)).toBe(atFirstBackup.get("db01")?.get(source.diskId));
    expect(simLeftovers(s.sim, keptSnapshots)).toEqual([]);
  });

  it("replaces an existing VM only after another approver approves, and the audit log shows each step", async () => {
    const rpId = firstPoint.get("web01") as string;
    const before = s.sim.state.vm("web01-copy");
    expect(before).toBeTruthy();
    const check = await s.run(s.operator, "restore:request", (c) =>
      checkRestoreName(c.db, c.config.encryptionKey, c.actor, { restorePointId: rpId, name: "web01-copy" }),
    );
    expect(check).toMatchObject({ available: false, approvalRequired: true, replaces: { id: before?.id } });
    await expect(
      s.run(s.operator, "restore:request", (c) =>
        startRestoreVm(c, c.actor, { restorePointId: rpId, name: "web01-copy" }),
      ),
    ).rejects.toThrow(/exists.*another approver/);
    const asked = await s.run(s.operator, "restore:request", (c) =>
      startRestoreVm(c, c.actor, {
        restorePointId: rpId,
        name: "web01-copy",
        replaceExisting: true,
        reason: "the copy was damaged by a test",
      }),
    );
    if (asked.status !== "pending-approval") throw new Error("a replacing restore ran without approval");
    // Nothing ran yet.
    expect(
      await s.t.db.job.count({
        where: {
          type: "restore.vm",
          input: { path: ["name"], equals: "web01-copy" },
          state: { not: "succeeded" },
        },
      }),
    ).toBe(0);
    expect(s.sim.state.vm("web01-copy")?.id).toBe(before?.id);
    const decided = await s.run(approver, "approval:decide", (c) =>
      decideApproval(c, { id: asked.approvalRequestId, comment: "ok, replace it", decision: "approve" }),
    );
    expect(decided.jobId).toBeTruthy();
    const job = await s.waitJob(decided.jobId as string, ["succeeded"]);
    const after = s.sim.state.vm("web01-copy");
    expect(after?.id).not.toBe(before?.id);
    expect(s.sim.state.vms().filter((v) => v.name === "web01-copy")).toHaveLength(1);
    await expectSameGuests(
      job.result as { disks: Array<{ sourceDiskId: string; diskId: string }> },
      atFirstBackup.get("web01") as Map<string, string>,
    );
    const events = await eventsOf(s, job.id);
    expect(events.some((e) => e.step === "replace" && e.message.includes(before?.id ?? "-"))).toBe(true);
    const audit = await s.t.db.auditEvent.findMany({
      where: { OR: [{ targetId: asked.approvalRequestId }, { targetId: job.id }] },
    });
    const actions = audit.map((a) => a.action);
    for (const a of ["approval.requested", "approval.executed", "job.succeeded"])
      expect(actions).toContain(a);
  });

  it("restores at another site: onto a second engine, where the VM never was, with its original ids", async () => {
    const rpId = firstPoint.get("app01") as string;
    const source = s.sim.state.vm("app01");
    if (!source) throw new Error("no app01");
    const vmsBefore = s.sim.state.vms().length;
    // Site B runs its own demo VMs: other ids, but the same MAC addresses as the first site's.
    const site = await startSimulator({ dataDir: path.join(s.dir, "site-b"), ...FAST_SIM });
    const data2 = () => site.state.storageDomains().find((d) => d.name === "data2")?.id;
    try {
      const siteMacs = new Set(site.state.vms().flatMap((v) => v.nics.map((n) => n.mac)));
      expect(source.nics.some((n) => siteMacs.has(n.mac))).toBe(true);
      const siteEngine = await registerEngine(s.t, site, "Site B");
      const targets = await s.run(s.operator, "restore:request", (c) =>
        restoreTargets(c.db, c.config.encryptionKey, c.actor, {
          restorePointId: rpId,
          engineId: siteEngine.id,
        }),
      );
      expect(targets.engineId).toBe(siteEngine.id);
      expect(targets.engines).toEqual([
        { id: s.engineId, name: "Simulated engine", original: true },
        { id: siteEngine.id, name: "Site B", original: false },
      ]);
      expect(targets.clusters.map((c) => c.id)).toEqual([site.state.raw().cluster.id]);
      const check = await s.run(s.operator, "restore:request", (c) =>
        checkRestoreName(c.db, c.config.encryptionKey, c.actor, {
          restorePointId: rpId,
          engineId: siteEngine.id,
          name: "app01-dr",
        }),
      );
      // The original VM is at the first site, not at the second.
      expect(check).toMatchObject({ available: true, originalExists: false, replaces: null });
      const started = await s.run(s.operator, "restore:request", (c) =>
        startRestoreVm(c, c.actor, {
          restorePointId: rpId,
          engineId: siteEngine.id,
          name: "app01-dr",
          cluster: { id: targets.clusters[0]?.id ?? "" },
          storageDomain: { name: "data2" },
        }),
      );
      if (started.status !== "queued") throw new Error("the restore waits for approval");
      const job = await s.waitJob(started.jobId, ["succeeded"]);
      expect(job.engineId).toBe(siteEngine.id);
      const result = job.result as {
        vmId: string;
        identity: string;
        disks: Array<{ sourceDiskId: string; diskId: string }>;
      };
      expect(result.identity).toBe("original");
      expect(result.vmId).toBe(source.id);
      const restored = site.state.vm("app01-dr");
      expect(restored?.id).toBe(source.id);
      // Site B refused the MACs in use there; its pool gave the NICs new ones, and the job says so.
      expect(restored?.nics).toHaveLength(source.nics.length);
      for (const n of restored?.nics ?? []) expect(siteMacs.has(n.mac)).toBe(false);
      const events = await eventsOf(s, job.id);
      expect(events.some((e) => e.level === "warn" && /MAC Address .* already in use/.test(e.message))).toBe(
        true,
      );
      const expected = atFirstBackup.get("app01") as Map<string, string>;
      expect(result.disks).toHaveLength(expected.size);
      for (const d of result.disks) {
        expect(site.state.disk(d.diskId)?.storageDomainId).toBe(data2());
        expect(await guestHash(site, d.diskId)).toBe(expected.get(d.sourceDiskId));
      }
      expect(simLeftovers(site)).toEqual([]);
      // The first site saw nothing of it.
      expect(s.sim.state.vms()).toHaveLength(vmsBefore);
    } finally {
      await site.stop();
    }
  });

  it("restores with the original ids when the original VM is gone (disaster recovery)", async () => {
    const original = s.sim.state.vm("db01");
    if (!original) throw new Error("no db01");
    const diskIds = original.attachments.map((a) => a.diskId).sort();
    const engine = new EngineClient({
      url: s.sim.engineUrl,
      username: s.sim.adminUser,
      password: s.sim.adminPassword,
      caPem: s.sim.caPem,
      pollIntervalMs: 50,
    });
    try {
      await engine.vms.remove(original.id, { detachOnly: false });
      for (let i = 0; i < 200 && s.sim.state.vm("db01"); i++) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await engine.close();
    }
    expect(s.sim.state.vm("db01")).toBeUndefined();
    const restored = await restore(firstPoint.get("db01") as string, "db01");
    expect(restored.identity).toBe("original");
    expect(restored.vmId).toBe(original.id);
    expect(restored.disks.map((d) => d.diskId).sort()).toEqual(diskIds);
    await expectSameGuests(restored, atFirstBackup.get("db01") as Map<string, string>);
    expect(simLeftovers(s.sim, keptSnapshots)).toEqual([]);
  });
});
