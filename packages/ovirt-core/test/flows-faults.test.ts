import { createHash, randomUUID } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { openRepository, type Repository } from "@lifeboat/repository";
import { mountSmallFilesystem } from "@lifeboat/repository/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type BackupResult,
  backupVm,
  cleanupEngineObjects,
  type EngineObjectRecord,
  FlowError,
  type FlowEvent,
  restoreVm,
} from "../src/flows";
import { engineLeftovers, type FlowHarness, guestOf, startHarness } from "./flows-support/harness";

let h: FlowHarness;

beforeAll(async () => {
  h = await startHarness();
}, 60_000);
afterAll(async () => {
  await h?.stop();
}, 60_000);
afterEach(() => {
  h.sim.faults.clear();
});

/** Short backoff so the retry paths run in test time. */
const FAST = { conflictRetryMs: 30 };

function vmId(name: string): string {
  const vm = h.sim.state.vm(name);
  if (!vm) throw new Error(`no VM ${name}`);
  return vm.id;
}

async function backup(
  name: string,
  repository: Repository,
  extra: {
    signal?: AbortSignal;
    deadlines?: Record<string, number>;
    onProgress?: (p: { phase: string; bytesDone: number }) => void;
  } = {},
) {
  const hooks = h.hooks(extra.signal);
  const run = backupVm({
    ...hooks,
    onProgress: extra.onProgress,
    engine: h.engine,
    imageio: h.imageio,
    vmId: vmId(name),
    repository,
    restorePointId: randomUUID(),
    jobRef: `faults ${name}`,
    deadlines: { ...FAST, ...extra.deadlines },
  });
  return { run, hooks };
}

/** The state every failure must leave: nothing on the engine, a repository that verifies. */
async function expectClean(repo: Repository, kept: string[] = []) {
  expect(engineLeftovers(h.sim, kept)).toEqual([]);
  const report = await repo.verify();
  expect(report.badChunks).toEqual([]);
  expect(report.ok).toBe(true);
}

const texts = (events: FlowEvent[]) => events.map((e) => `${e.level} ${e.step}: ${e.message}`).join("\n");
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("backup under faults", { timeout: 120_000 }, () => {
  let repo: Repository;
  beforeAll(async () => {
    repo = await h.newRepository("faults");
  });

  it("a connection dropped mid-layer: the range is fetched again and the layer is byte for byte the volume", async () => {
    // The first GET reads the qcow2 header (64 KiB); the second is the layer's data, cut after 100 kB.
    h.sim.faults.dropConnection({ method: "GET", afterBytes: 100_000, times: 2 });
    const { run, hooks } = await backup("web01", repo);
    const b = await run;
    expect(texts(hooks.events)).toMatch(/retrying \(1\/3\)/);
    const layer = b.disks[0]?.layers[0];
    const volume = h.sim.state.volumes(b.disks[0]?.diskId ?? "")[0];
    expect(volume?.id).toBe(layer?.imageId);
    expect(layer?.sha256).toBe(sha256(await readFile(volume?.path ?? "")));
    await expectClean(repo);
  });

  it("a full repository disk: the backup fails in words to act on, the engine is cleaned, no restore point", async () => {
    const fs = await mountSmallFilesystem(512 * 1024);
    try {
      const full = await openRepository(path.join(fs.dir, "repo"), { create: true, chunkSize: 256 * 1024 });
      await h.sim.guest.write("web01", 4, { seed: 99 });
      const { run } = await backup("web01", full);
      const err = (await run.catch((e) => e)) as FlowError;
      expect(err).toBeInstanceOf(FlowError);
      expect(err.message).toMatch(/repository at .* is full .*free space there or run gc/);
      expect(err.leftovers).toEqual([]);
      expect(await full.listRestorePoints()).toEqual([]);
      await expectClean(full);
    } finally {
      await fs.unmount();
    }
  });

  it("500 on finalize: finalize is repeated and the backup completes", async () => {
    h.sim.faults.failOperation("imagetransfers.finalize", { status: 500 });
    const { run, hooks } = await backup("db01", repo);
    const b = await run;
    expect(texts(hooks.events)).toMatch(/finalizing image transfer .*Internal Engine Error.*retrying/);
    expect(b.leftovers).toEqual([]);
    expect((await repo.readRestorePoint(b.restorePoint.id)).disks).toHaveLength(2);
    await expectClean(repo);
  });

  it("409 on snapshot removal: the removal is retried until the engine accepts it", async () => {
    h.sim.faults.failOperation("snapshots.remove", { status: 409, times: 2 });
    const { run, hooks } = await backup("app01", repo);
    const b = await run;
    expect(b.leftovers).toEqual([]);
    expect(texts(hooks.events).match(/removing snapshot .*injected fault.*retrying/g)).toHaveLength(2);
    expect(h.sim.state.snapshots().some((s) => s.id === b.snapshot.id)).toBe(false);
    await expectClean(repo);
  });

  it("a snapshot the engine never lets go is a reported Leftover, and cleanupEngineObjects removes it later", async () => {
    h.sim.faults.failOperation("snapshots.remove", {
      status: 409,
      times: 10_000,
      detail: "Snapshot is busy",
    });
    const { run, hooks } = await backup("web01", repo, { deadlines: { snapshotRemoveMs: 800 } });
    const b: BackupResult = await run;
    // The restore point is complete: only the engine side is left to clean.
    expect((await repo.readRestorePoint(b.restorePoint.id)).id).toBe(b.restorePoint.id);
    expect(b.leftovers).toEqual([
      {
        kind: "snapshot",
        id: b.snapshot.id,
        vmId: vmId("web01"),
        description: "temporary backup snapshot",
        error: expect.stringMatching(/Snapshot is busy/),
      },
    ]);
    expect(engineLeftovers(h.sim)).toEqual([expect.stringMatching(new RegExp(`snapshot ${b.snapshot.id}`))]);

    h.sim.faults.clear();
    const recovery = await cleanupEngineObjects(h.engine, hooks.records, { deadlines: FAST });
    expect(recovery.leftovers).toEqual([]);
    expect(recovery.cleaned.map((r) => [r.kind, r.id, r.state])).toEqual([
      ["snapshot", b.snapshot.id, "removed"],
    ]);
    await expectClean(repo);
  });

  it("aborted mid-transfer: the transfer is cancelled, the snapshot removed, no restore point written", async () => {
    const ac = new AbortController();
    const id = randomUUID();
    const hooks = h.hooks(ac.signal);
    const err = await backupVm({
      ...hooks,
      onProgress: (p) => {
        if (p.phase === "download" && p.bytesDone > 0) ac.abort(new Error("operator cancelled"));
      },
      engine: h.engine,
      imageio: h.imageio,
      vmId: vmId("db01"),
      repository: repo,
      restorePointId: id,
      jobRef: "faults abort",
      deadlines: FAST,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(FlowError);
    expect((err as FlowError).aborted).toBe(true);
    expect((err as FlowError).leftovers).toEqual([]);
    // A transfer was open when the abort came, and it ended.
    const transfers = hooks.records.filter((r) => r.kind === "image_transfer");
    expect(transfers.some((r) => r.state === "created")).toBe(true);
    expect(transfers.filter((r) => r.state === "created").length).toBe(
      transfers.filter((r) => r.state === "removed").length,
    );
    await expect(repo.readRestorePoint(id)).rejects.toThrow(/missing/);
    await expectClean(repo);
  });

  it("a snapshot the engine refuses: the engine's words, nothing left behind", async () => {
    h.sim.faults.failOperation("snapshots.add", {
      status: 409,
      detail: "Cannot create Snapshot. Disk web01_Disk1 is locked.",
    });
    const { run } = await backup("web01", repo);
    const err = (await run.catch((e) => e)) as FlowError;
    expect(err).toBeInstanceOf(FlowError);
    expect(err.step).toBe("snapshot");
    expect(err.engineMessage).toMatch(/Disk web01_Disk1 is locked/);
    expect(err.message).toMatch(/^snapshot: .*Disk web01_Disk1 is locked/);
    await expectClean(repo);
  });
});

describe("restore under faults", { timeout: 120_000 }, () => {
  let repo: Repository;
  let point: BackupResult;
  beforeAll(async () => {
    repo = await h.newRepository("restore-faults");
    const { run } = await backup("app01", repo);
    point = await run;
  });

  function counts() {
    return { vms: h.sim.state.vms().length, disks: h.sim.state.disks().length };
  }

  async function restore(name: string, extra: { verify?: boolean } = {}) {
    const hooks = h.hooks();
    const run = restoreVm({
      ...hooks,
      engine: h.engine,
      imageio: h.imageio,
      repository: repo,
      restorePoint: point.restorePoint,
      target: { name },
      verify: extra.verify,
      deadlines: FAST,
    });
    return { run, hooks };
  }

  it("an upload the host does not verify: the restore fails and removes the VM and its disks", async () => {
    const before = counts();
    h.sim.faults.failOperation("imagetransfers.verify", { status: 500 });
    const { run, hooks } = await restore("app01-verify");
    const err = (await run.catch((e) => e)) as FlowError;
    expect(err).toBeInstanceOf(FlowError);
    expect(err.step).toMatch(/^upload app01_Disk1 layer 1\/3$/);
    expect(err.message).toMatch(/image transfer .* failed: phase (finalizing|finished)_failure/);
    // Why, in the engine's words: its audit log entry under the job's correlation id.
    expect(err.message).toMatch(
      /the engine logged: Image verification failed for disk app01-verify_Disk1: verification failure \(injected\)/,
    );
    expect(err.leftovers).toEqual([]);
    expect(counts()).toEqual(before);
    expect(h.sim.state.vm("app01-verify")).toBeUndefined();
    // Everything created was journaled and is journaled as removed.
    const created = hooks.records.filter((r) => r.state === "created");
    expect(created.map((r) => r.kind)).toEqual(
      expect.arrayContaining(["disk", "vm", "snapshot", "image_transfer"]),
    );
    for (const r of created.filter((x) => x.kind !== "snapshot"))
      expect(hooks.records.some((x) => x.id === r.id && x.state === "removed")).toBe(true);
    expect(engineLeftovers(h.sim)).toEqual([]);
  });

  it("a snapshot that fails on the engine: the restore fails with its words and cleans up", async () => {
    const before = counts();
    h.sim.faults.failOperation("snapshots.add.async", { status: 500 });
    const { run } = await restore("app01-snap");
    const err = (await run.catch((e) => e)) as FlowError;
    expect(err.step).toBe("create snapshots");
    expect(err.message).toMatch(/rolled it back/);
    expect(counts()).toEqual(before);
    expect(engineLeftovers(h.sim)).toEqual([]);
  });

  it("aborted mid-upload: uploads cancelled, the VM and its disks removed", async () => {
    const before = counts();
    const ac = new AbortController();
    const hooks = h.hooks(ac.signal);
    const err = await restoreVm({
      ...hooks,
      onProgress: (p) => {
        if (p.phase === "upload" && p.bytesDone > 0) ac.abort(new Error("operator cancelled"));
      },
      engine: h.engine,
      imageio: h.imageio,
      repository: repo,
      restorePoint: point.restorePoint,
      target: { name: "app01-aborted" },
      deadlines: FAST,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(FlowError);
    expect((err as FlowError).aborted).toBe(true);
    expect((err as FlowError).message).toMatch(/^upload app01_Disk1 layer \d\/3: cancelled$/);
    expect(counts()).toEqual(before);
    expect(engineLeftovers(h.sim)).toEqual([]);
  });

  it("one flipped byte in a chunk: refused before anything is created; without the pre-check, cleaned up", async () => {
    const layer = point.disks[0]?.layers[1];
    const m = await repo.readLayerManifest(layer?.layerId ?? "");
    const entry = m.entries.find((e): e is { id: string; length: number } => "id" in e);
    if (!entry) throw new Error("no stored chunk");
    const file = path.join(repo.location, "chunks", entry.id.slice(0, 2), entry.id.slice(2, 4), entry.id);
    const good = await readFile(file);
    const bad = Buffer.from(good);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x40;
    await writeFile(file, bad);
    try {
      const before = counts();
      const { run } = await restore("app01-damaged");
      const err = (await run.catch((e) => e)) as FlowError;
      expect(err).toBeInstanceOf(FlowError);
      expect(err.step).toBe("verify restore point");
      expect(err.message).toMatch(
        new RegExp(`is damaged, nothing was restored: chunk ${entry.id} is corrupt`),
      );
      expect(counts()).toEqual(before);

      const second = await restore("app01-damaged", { verify: false });
      const err2 = (await second.run.catch((e) => e)) as FlowError;
      expect(err2).toBeInstanceOf(FlowError);
      expect(err2.message).toMatch(new RegExp(`chunk ${entry.id} of layer ${layer?.layerId}.* is corrupt`));
      expect(counts()).toEqual(before);
      expect(engineLeftovers(h.sim)).toEqual([]);
    } finally {
      await writeFile(file, good);
    }
    const report = await repo.verify();
    expect(report.ok).toBe(true);
  });

  it("restores fine once the faults are gone", async () => {
    const { run } = await restore("app01-fine");
    const r = await run;
    const src = point.disks[0]?.diskId ?? "";
    expect((await guestOf(h.sim, r.disks[0]?.diskId ?? "")).equals(await guestOf(h.sim, src))).toBe(true);
  });
});

describe("recovery after a crash", { timeout: 60_000 }, () => {
  it("cleanupEngineObjects cancels a transfer left open and removes the temporary snapshot of a dead run", async () => {
    const vm = vmId("web01");
    const snap = await h.engine.snapshots.create(
      vm,
      { description: "Lifeboat backup crashed-job (temporary)" },
      { intervalMs: 20 },
    );
    const disk = h.sim.state.vm("web01")?.attachments[0]?.diskId ?? "";
    const base = h.sim.state.volumes(disk)[0]?.id ?? "";
    const transfer = await h.engine.imageTransfers.start(
      { direction: "download", snapshot: base },
      { intervalMs: 20 },
    );
    // The journal a worker would have kept before it was killed.
    const records: EngineObjectRecord[] = [
      { kind: "snapshot", id: snap.id, vmId: vm, state: "created", purpose: "temporary backup snapshot" },
      { kind: "image_transfer", id: transfer.id, diskId: disk, state: "created", purpose: "layer download" },
    ];
    expect(engineLeftovers(h.sim).length).toBeGreaterThan(0);
    const journal: EngineObjectRecord[] = [];
    const res = await cleanupEngineObjects(h.engine, records, {
      onEngineObject: (o) => void journal.push(o),
    });
    expect(res.leftovers).toEqual([]);
    expect(res.cleaned.map((r) => r.kind)).toEqual(["image_transfer", "snapshot"]);
    expect(journal.map((r) => [r.kind, r.state])).toEqual([
      ["image_transfer", "removed"],
      ["snapshot", "removed"],
    ]);
    expect(engineLeftovers(h.sim)).toEqual([]);
    // A second pass over the same journal finds nothing to do.
    const again = await cleanupEngineObjects(h.engine, [...records, ...journal]);
    expect(again.cleaned).toEqual([]);
  });
});
