import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type Simulator, type SimulatorOptions, startSimulator } from "@lifeboat/ovirt-sim";
import { checkAllVolumes, FAST_SIM } from "@lifeboat/ovirt-sim/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BackupFailedError,
  backupCapability,
  EngineClient,
  EngineError,
  type VmBackup,
  WaitTimeoutError,
} from "../src/engine";
import type { FlowEvent } from "../src/flows";
import { pruneCheckpoints } from "../src/flows";
import { ImageioTicket, type ImageSegment } from "../src/imageio";

/**
 * The engine's backup API through ovirt-core's clients against the simulator: capabilities per cluster level,
 * full and incremental round trips in hybrid and live mode, the extents-driven reader, and the engine's words
 * for each injected failure.
 */
const KiB64 = 64 * 1024;
const PIECE = 8 * 1024 * 1024;
const wait = { timeoutMs: 20_000, intervalMs: 20 };

interface Env {
  sim: Simulator;
  dir: string;
  engine: EngineClient;
}

async function startEnv(opts: Partial<SimulatorOptions> = {}): Promise<Env> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "ovirt-core-backup-api-"));
  const sim = await startSimulator({ dataDir: dir, ...FAST_SIM, ...opts });
  const engine = new EngineClient({
    url: sim.engineUrl,
    username: sim.adminUser,
    password: sim.adminPassword,
    caPem: sim.caPem,
    pollIntervalMs: 20,
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
  });
  return { sim, dir, engine };
}

async function stopEnv(env: Env): Promise<void> {
  await env.engine.close();
  await env.sim.stop();
  await checkAllVolumes(env.dir);
  await rm(env.dir, { recursive: true, force: true });
}

let env: Env;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await stopEnv(env);
});

async function vmAndDisks(name: string) {
  const vm = await env.engine.vms.findByName(name);
  if (!vm) throw new Error(`no VM ${name}`);
  const disks = (await env.engine.diskAttachments.list(vm.id))
    .map((a) => a.disk)
    .filter((d) => d !== undefined);
  return { vm, disks };
}

async function guestSha(diskId: string, size: number): Promise<string> {
  const h = createHash("sha256");
  for (let pos = 0; pos < size; pos += PIECE)
    h.update(await env.sim.guest.read(diskId, pos, Math.min(PIECE, size - pos)));
  return h.digest("hex");
}

/** Opens the backup's transfer of one disk and its ticket. */
async function openBackupDisk(backup: VmBackup, diskId: string) {
  const transfer = await env.engine.imageTransfers.start(
    { direction: "download", disk: diskId, backup: backup.id, format: "raw", inactivityTimeout: 120 },
    wait,
  );
  const ticket = await ImageioTicket.open(
    { transferUrl: transfer.transferUrl as string, proxyUrl: transfer.proxyUrl },
    { caPem: env.sim.caPem, workers: 4, bufferSize: 4 * 1024 * 1024 },
  );
  return { transfer, ticket };
}

async function closeBackupDisk(o: Awaited<ReturnType<typeof openBackupDisk>>, diskId: string) {
  await o.ticket.close();
  await env.engine.imageTransfers.finalizeAndWait(o.transfer.id, { diskId, ...wait });
}

/** Hashes a full read (data and zero runs must cover [0, size) in order). */
async function shaOfFullRead(segments: AsyncIterable<ImageSegment>, size: number): Promise<string> {
  const h = createHash("sha256");
  let pos = 0;
  for await (const s of segments) {
    expect(s.offset).toBe(pos);
    if (s.zero) {
      for (let left = s.length; left > 0; left -= Math.min(PIECE, left))
        h.update(Buffer.alloc(Math.min(PIECE, left)));
      pos += s.length;
    } else {
      h.update(s.data);
      pos += s.data.length;
    }
  }
  expect(pos).toBe(size);
  return h.digest("hex");
}

/** Collects a dirty read as merged [start, end) ranges with their bytes. */
async function collectDirty(segments: AsyncIterable<ImageSegment>) {
  const ranges: Array<[number, number]> = [];
  const data = new Map<number, Buffer>();
  let last = -1;
  for await (const s of segments) {
    expect(s.offset).toBeGreaterThan(last);
    const len = s.zero ? s.length : s.data.length;
    last = s.offset;
    if (!s.zero) data.set(s.offset, Buffer.from(s.data));
    const prev = ranges[ranges.length - 1];
    if (prev && prev[1] === s.offset) prev[1] += len;
    else ranges.push([s.offset, s.offset + len]);
  }
  return { ranges, data };
}

async function writeRegions(diskId: string, size: number, n: number): Promise<Array<[number, number]>> {
  const all: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const len = KiB64 * (1 + Math.floor(Math.random() * 3));
    const start = Math.floor(Math.random() * ((size - len) / KiB64)) * KiB64;
    await env.sim.guest.writeAt(diskId, start, randomBytes(len));
    all.push([start, start + len]);
  }
  all.sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [s, e] of all) {
    const p = out[out.length - 1];
    if (p && s <= p[1]) p[1] = Math.max(p[1], e);
    else out.push([s, e]);
  }
  return out;
}

describe("capability per VM", () => {
  it("reads the cluster level and each disk: incremental from 4.5, hybrid from 4.7 unless legacy, else the snapshot chain", async () => {
    const { vm } = await vmAndDisks("db01");
    const at = async (level: "4.4" | "4.6" | "4.7", legacy = false) => {
      env.sim.setClusterLevel("Default", level);
      return backupCapability(env.engine, vm.id, { legacy });
    };
    try {
      const c47 = await at("4.7");
      expect(c47).toMatchObject({
        clusterLevel: "4.7",
        incremental: true,
        hybrid: true,
        method: "backup-api",
      });
      expect(c47.disks.map((d) => d.incremental)).toEqual([true, false]);
      expect(c47.disks[1]?.reason).toBe("incremental backup is not enabled on the disk");
      expect((await at("4.7", true)).hybrid).toBe(false);
      const c46 = await at("4.6");
      expect(c46).toMatchObject({ incremental: true, hybrid: false, method: "backup-api" });
      expect(c46.reason).toMatch(/live mode \(scratch disks\)/);
      const c44 = await at("4.4");
      expect(c44).toMatchObject({ incremental: false, hybrid: false, method: "snapshot-chain" });
      expect(c44.reason).toBe(
        "cluster compatibility level 4.4: incremental backup needs 4.5 or later, snapshot chain only",
      );
      const app = await env.engine.vms.findByName("app01");
      env.sim.setClusterLevel("Default", "4.7");
      const none = await backupCapability(env.engine, app?.id as string);
      expect(none.method).toBe("snapshot-chain");
      expect(none.reason).toMatch(/no disk has incremental backup enabled/);
    } finally {
      env.sim.setClusterLevel("Default", "4.7");
    }
  });
});

describe("round trips: a full backup, guest writes, an incremental backup", () => {
  for (const [level, legacy, mode] of [
    ["4.7", false, "hybrid"],
    ["4.7", true, "live"],
    ["4.6", false, "live"],
  ] as const) {
    it(`cluster level ${level}${legacy ? " with legacy" : ""}: ${mode}; the full read is the guest view, the dirty read exactly the written regions`, async () => {
      env.sim.setClusterLevel("Default", level);
      try {
        const { vm, disks } = await vmAndDisks("web01");
        const disk = disks[0] as NonNullable<(typeof disks)[number]>;
        const size = Number(disk.provisionedSize);
        const before = await guestSha(disk.id, size);
        const full = await env.engine.backups.start(vm.id, { disks: [disk.id], legacy });
        const ready = await env.engine.backups.waitReady(vm.id, full.id, wait);
        expect(Boolean(ready.snapshot)).toBe(mode === "hybrid");
        expect((await env.engine.backups.disks(vm.id, full.id)).map((d) => d.backupMode)).toEqual(["full"]);
        // Guest writes during the backup do not reach it.
        await env.sim.guest.writeAt(disk.id, 0, randomBytes(KiB64));
        const o = await openBackupDisk(ready, disk.id);
        expect(await shaOfFullRead(o.ticket.download({ context: "zero" }), size)).toBe(before);
        await closeBackupDisk(o, disk.id);
        const done = await env.engine.backups.finalizeAndWait(vm.id, full.id, wait);
        expect(done.confirmedBy).toBe("phase");
        expect(done.toCheckpointId).toBe(ready.toCheckpointId);

        const written = await writeRegions(disk.id, size, 10);
        const expected = new Map<number, Buffer>();
        for (const [s, e] of written) expected.set(s, await env.sim.guest.read(disk.id, s, e - s));
        const inc = await env.engine.backups.start(vm.id, {
          disks: [disk.id],
          fromCheckpointId: done.toCheckpointId,
          legacy,
        });
        const incReady = await env.engine.backups.waitReady(vm.id, inc.id, wait);
        expect((await env.engine.backups.disks(vm.id, inc.id)).map((d) => d.backupMode)).toEqual([
          "incremental",
        ]);
        await writeRegions(disk.id, size, 3); // after the start point: not in this backup
        const oi = await openBackupDisk(incReady, disk.id);
        const got = await collectDirty(oi.ticket.download({ context: "dirty" }));
        await closeBackupDisk(oi, disk.id);
        // The written regions include the 64 KiB write at 0 during the full backup.
        const want = [...written];
        if (!want.some(([s]) => s === 0)) want.unshift([0, KiB64]);
        const merged = want
          .sort((a, b) => a[0] - b[0])
          .reduce<Array<[number, number]>>((acc, [s, e]) => {
            const p = acc[acc.length - 1];
            if (p && s <= p[1]) p[1] = Math.max(p[1], e);
            else acc.push([s, e]);
            return acc;
          }, []);
        expect(got.ranges).toEqual(merged);
        for (const [s, buf] of expected) {
          const joined = Buffer.concat(
            [...got.data.entries()]
              .filter(([o]) => o >= s && o < s + buf.length)
              .sort((a, b) => a[0] - b[0])
              .map(([, b]) => b),
          );
          expect(joined.subarray(0, buf.length).equals(buf)).toBe(true);
        }
        const end = await env.engine.backups.finalizeAndWait(vm.id, inc.id, wait);
        const chain = await env.engine.checkpoints.list(vm.id);
        expect(chain.map((c) => c.id).slice(-2)).toEqual([done.toCheckpointId, end.toCheckpointId]);
        expect(chain.at(-1)?.parentId).toBe(done.toCheckpointId);
        // Prune: only the root goes; the rest stay.
        const root = chain[0]?.id as string;
        await expect(env.engine.checkpoints.remove(vm.id, chain.at(-1)?.id as string)).rejects.toThrow(
          /not the root checkpoint/,
        );
        await env.engine.checkpoints.remove(vm.id, root);
        expect((await env.engine.checkpoints.list(vm.id)).map((c) => c.id)).toEqual(
          chain.slice(1).map((c) => c.id),
        );
      } finally {
        env.sim.setClusterLevel("Default", "4.7");
      }
    });
  }

  it("cluster level 4.4: full backups only; an incremental is refused in the engine's words", async () => {
    env.sim.setClusterLevel("Default", "4.4");
    try {
      const { vm, disks } = await vmAndDisks("db01");
      const b = await env.engine.backups.start(vm.id, { disks: disks.map((d) => d?.id as string) });
      const ready = await env.engine.backups.waitReady(vm.id, b.id, wait);
      expect(ready.toCheckpointId).toBeUndefined();
      for (const d of disks) {
        const size = Number(d?.provisionedSize);
        const o = await openBackupDisk(ready, d?.id as string);
        expect(await shaOfFullRead(o.ticket.download(), size)).toBe(await guestSha(d?.id as string, size));
        await closeBackupDisk(o, d?.id as string);
      }
      await env.engine.backups.finalizeAndWait(vm.id, b.id, wait);
      const err = await env.engine.backups
        .start(vm.id, {
          disks: [disks[0]?.id as string],
          fromCheckpointId: "c1c1c1c1-0000-4000-8000-0000000000c1",
        })
        .catch((e) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).status).toBe(409);
      expect((err as EngineError).detail).toBe(
        "[Cannot backup VM. Incremental backup is not supported in cluster compatibility version 4.4.]",
      );
    } finally {
      env.sim.setClusterLevel("Default", "4.7");
    }
  });
});

describe("the extents reader", () => {
  it("opens data connections only after the extents came back, and retries a dropped range on a new connection", async () => {
    const { vm, disks } = await vmAndDisks("app01");
    const disk = disks[0] as NonNullable<(typeof disks)[number]>;
    const size = Number(disk.provisionedSize);
    const b = await env.engine.backups.start(vm.id, { disks: [disk.id] });
    const ready = await env.engine.backups.waitReady(vm.id, b.id, wait);
    const o = await openBackupDisk(ready, disk.id);
    env.sim.faults.addLatency({ ms: 400, target: "imageio", op: "images.extents", times: 1 });
    env.sim.faults.dropConnection({ method: "GET", afterBytes: 100_000 });
    const reading = shaOfFullRead(o.ticket.download({ context: "zero" }), size);
    await new Promise((r) => setTimeout(r, 200));
    const ticket = env.sim.state.tickets().find((x) => x.transfer_id === o.transfer.id);
    expect(ticket?.connections).toBe(1); // only the control connection, waiting for the extents
    expect(await reading).toBe(await guestSha(disk.id, size));
    expect(env.sim.faults.list().filter((f) => f.kind === "drop")).toEqual([]);
    await closeBackupDisk(o, disk.id);
    await env.engine.backups.finalizeAndWait(vm.id, b.id, wait);
  });
});

describe("failures in the engine's words", () => {
  it("a second backup, finalize with an open transfer, an invalid checkpoint", async () => {
    const { vm, disks } = await vmAndDisks("web01");
    const disk = disks[0] as NonNullable<(typeof disks)[number]>;
    const b = await env.engine.backups.start(vm.id, { disks: [disk.id] });
    const ready = await env.engine.backups.waitReady(vm.id, b.id, wait);
    const second = await env.engine.backups.start(vm.id, { disks: [disk.id] }).catch((e) => e);
    expect((second as EngineError).detail).toBe("[Cannot backup VM. The VM is during a backup operation.]");
    const o = await openBackupDisk(ready, disk.id);
    const refused = await env.engine.backups.finalize(vm.id, b.id).catch((e) => e);
    expect((refused as EngineError).status).toBe(409);
    expect((refused as EngineError).detail).toMatch(
      /^\[Cannot stop VM Backup\. The backup has image transfers in progress/,
    );
    await closeBackupDisk(o, disk.id);
    const done = await env.engine.backups.finalizeAndWait(vm.id, b.id, wait);
    env.sim.faults.damageCheckpoint({ effect: "invalid", vmId: vm.id, checkpointId: done.toCheckpointId });
    expect((await env.engine.checkpoints.get(vm.id, done.toCheckpointId as string)).state).toBe("invalid");
    const inc = await env.engine.backups
      .start(vm.id, { disks: [disk.id], fromCheckpointId: done.toCheckpointId })
      .catch((e) => e);
    expect((inc as EngineError).detail).toBe(
      `[Cannot backup VM. Checkpoint ${done.toCheckpointId} is invalid, a full backup is required.]`,
    );
  });

  it("a backup whose snapshot fails: waitReady fails with what the engine logged", async () => {
    const { vm, disks } = await vmAndDisks("web01");
    env.sim.faults.failOperation("snapshots.add.async", { status: 500 });
    const b = await env.engine.backups.start(vm.id, { disks: [disks[0]?.id as string] });
    const err = await env.engine.backups.waitReady(vm.id, b.id, wait).catch((e) => e);
    expect(err).toBeInstanceOf(BackupFailedError);
    expect((err as BackupFailedError).state).toBe("failed");
    expect((err as Error).message).toMatch(
      /did not become ready: phase failed; the engine logged: Backup .* failed: the backup snapshot could not be created/,
    );
  });

  it("finalize stuck in finalizing: the wait ends at its deadline with the phase named", async () => {
    const { vm, disks } = await vmAndDisks("app01");
    const b = await env.engine.backups.start(vm.id, { disks: [disks[0]?.id as string] });
    await env.engine.backups.waitReady(vm.id, b.id, wait);
    const hold = env.sim.faults.holdBackup({ phase: "finalizing", backupId: b.id });
    await env.engine.backups.finalize(vm.id, b.id);
    const err = await env.engine.backups
      .waitFinalized(vm.id, b.id, { timeoutMs: 300, intervalMs: 20 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as Error).message).toMatch(/last state: finalizing/);
    hold.remove();
    expect((await env.engine.backups.waitFinalized(vm.id, b.id, wait)).confirmedBy).toBe("phase");
  });

  it("an old engine (before 4.4.7) deletes the backup after finalize: that counts as done", async () => {
    const old = await startEnv({ legacyBackupRemoval: true });
    try {
      const vm = await old.engine.vms.findByName("web01");
      const att = await old.engine.diskAttachments.list(vm?.id as string);
      const b = await old.engine.backups.start(vm?.id as string, { disks: [att[0]?.diskId as string] });
      const ready = await old.engine.backups.waitReady(vm?.id as string, b.id, wait);
      const out = await old.engine.backups.finalizeAndWait(vm?.id as string, b.id, wait);
      expect(out).toEqual({ id: b.id, confirmedBy: "removed", toCheckpointId: ready.toCheckpointId });
    } finally {
      await stopEnv(old);
    }
  });
});

describe("pruneCheckpoints", () => {
  /** A backup without transfers: start, ready, finalize; its checkpoint. */
  async function checkpointOf(vmId: string, diskId: string): Promise<string> {
    const b = await env.engine.backups.start(vmId, { disks: [diskId] });
    await env.engine.backups.waitReady(vmId, b.id, wait);
    return (await env.engine.backups.finalizeAndWait(vmId, b.id, wait)).toCheckpointId as string;
  }

  it("removes oldest first down to `keep`, an invalid one with the older ones before it, never the protected one or newer", async () => {
    const { vm, disks } = await vmAndDisks("web01");
    const diskId = disks[0]?.id as string;
    for (const c of await env.engine.checkpoints.list(vm.id))
      await env.engine.checkpoints.remove(vm.id, c.id);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await checkpointOf(vm.id, diskId));
    const events: FlowEvent[] = [];
    const prune = (keep: number, protect: string) =>
      pruneCheckpoints({ engine: env.engine, vmId: vm.id, keep, protect, onEvent: (e) => events.push(e) });
    const held = async () => (await env.engine.checkpoints.list(vm.id)).map((c) => c.id);

    // Protecting the second: only the root may go, whatever `keep` says.
    expect((await prune(1, ids[1] as string)).removed).toEqual([ids[0]]);
    expect(await held()).toEqual(ids.slice(1));
    // Within the bound, nothing goes...
    expect((await prune(7, ids[4] as string)).removed).toEqual([]);
    // ...unless one is invalid: it goes with the older ones the engine removes first.
    env.sim.faults.damageCheckpoint({ effect: "invalid", vmId: vm.id, checkpointId: ids[2] });
    expect((await prune(7, ids[4] as string)).removed).toEqual([ids[1], ids[2]]);
    expect(events.map((e) => e.message).slice(-2)).toEqual([
      `removed checkpoint ${ids[1]} from the engine: older than invalid checkpoint ${ids[2]}`,
      `removed checkpoint ${ids[2]} from the engine: invalid`,
    ]);
    expect(await held()).toEqual(ids.slice(3));
    // A protected checkpoint the engine does not list: nothing is touched.
    const none = await prune(1, "00000000-0000-4000-8000-000000000000");
    expect(none.removed).toEqual([]);
    expect(events.at(-1)).toMatchObject({ level: "warn", step: "checkpoints" });
    expect(await held()).toEqual(ids.slice(3));
  });
});
