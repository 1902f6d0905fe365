import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import path from "node:path";
import readline from "node:readline";
import { describe, expect, it, vi } from "vitest";
import {
  type LayerSegment,
  LocalDirectoryBackend,
  openRepository,
  type Repository,
  type RepositoryBackend,
  SessionLostError,
} from "../src";
import { ChunkIdSet } from "../src/id-set";
import { KEYS } from "../src/store";
import { BACKENDS, chunkKeys } from "./backends";
import { CS, collect, compressible, fixture, iterate, pointInput, storeLayer } from "./helpers";

const HOUR = 3600_000;

describe("ChunkIdSet", () => {
  it("answers membership for many ids, once each, and counts those never looked up", () => {
    const set = new ChunkIdSet();
    const ids = Array.from({ length: 100_000 }, () => randomBytes(32).toString("hex"));
    for (const id of ids) set.add(id);
    for (const id of ids.slice(0, 1000)) set.add(id); // duplicates count once
    expect(set.size).toBe(ids.length);
    expect(ids.slice(0, 60_000).filter((id) => set.has(id)).length).toBe(60_000);
    let strangers = 0;
    for (let i = 0; i < 10_000; i++) if (set.has(randomBytes(32).toString("hex"))) strangers++;
    expect(strangers).toBe(0);
    expect(set.unseen()).toBe(40_000);
    expect(() => set.add(ids[0] ?? "")).toThrow(/frozen/);
  });
});

async function ids(repo: Repository, layerId: string): Promise<string[]> {
  return (await repo.readLayerManifest(layerId)).entries.flatMap((e) => ("id" in e ? [e.id] : []));
}

describe.each(BACKENDS)("gc ($name)", (B) => {
  /** Layer A (in restore point p1), layer B sharing A's first chunk (no restore point), B's own two chunks. */
  async function setup() {
    const backend = await B.fresh();
    const repo = await openRepository(backend, { create: true, chunkSize: CS });
    const shared = randomBytes(CS);
    const a = await storeLayer(repo, fixture([{ data: shared }, { data: compressible(2 * CS) }]), "img-a");
    const b = await storeLayer(repo, fixture([{ data: shared }, { data: randomBytes(2 * CS) }]), "img-b");
    await repo.writeRestorePoint(pointInput([[a]], { id: "p1" }));
    const aIds = await ids(repo, a.layerId);
    const bOnly = (await ids(repo, b.layerId)).filter((id) => !aIds.includes(id));
    expect(bOnly).toHaveLength(2);
    return { backend, repo, a, b, aIds, bOnly };
  }
  /** As if everything in the repository had been written two hours ago. */
  const ageAll = (backend: RepositoryBackend) => B.age(backend, 2 * HOUR);
  const exists = (backend: RepositoryBackend, key: string) => backend.has(key);

  it("deletes unreferenced chunks and orphan layers only, and reports bytes freed", async () => {
    const { backend, repo, a, b, aIds, bOnly } = await setup();
    const bOnlyBytes = (await Promise.all(bOnly.map((id) => backend.stat(KEYS.chunk(id))))).reduce(
      (s, st) => s + (st?.size ?? 0),
      0,
    );
    const layerBytes = (await backend.stat(KEYS.layer(b.layerId)))?.size ?? 0;
    await ageAll(backend);

    const dry = await repo.gc({ graceMs: HOUR, dryRun: true });
    expect(dry).toMatchObject({
      dryRun: true,
      deletedChunks: 2,
      deletedLayers: 1,
      freedBytes: bOnlyBytes + layerBytes,
    });
    expect((await chunkKeys(backend)).length).toBe(aIds.length + 2); // nothing deleted

    const report = await repo.gc({ graceMs: HOUR });
    expect(report).toMatchObject({
      dryRun: false,
      restorePoints: 1,
      liveLayers: 1,
      deletedLayers: 1,
      deletedChunks: 2,
      freedBytes: bOnlyBytes + layerBytes,
      remainingChunks: aIds.length,
      missingChunks: 0,
      referencedChunks: aIds.length,
    });
    for (const id of bOnly) expect(await exists(backend, KEYS.chunk(id))).toBe(false);
    for (const id of aIds) expect(await exists(backend, KEYS.chunk(id))).toBe(true);
    expect(await exists(backend, KEYS.layer(b.layerId))).toBe(false);
    expect((await repo.verify()).ok).toBe(true);
    expect((await collect(await repo.readLayer(a.layerId))).length).toBe(a.size);

    // nothing left to collect
    expect((await repo.gc({ graceMs: 0 })).deletedChunks).toBe(0);
  });

  it("honours the grace period", async () => {
    const { backend, repo, b, bOnly } = await setup();
    // just written: within an hour's grace, so kept
    const kept = await repo.gc({ graceMs: HOUR });
    expect(kept.deletedChunks).toBe(0);
    expect(kept.deletedLayers).toBe(0);
    // aged past the grace period: collected
    await ageAll(backend);
    // (a real gc: marking does not touch chunks, so it does not postpone their collection)
    expect((await repo.gc({ graceMs: 3 * HOUR })).deletedChunks).toBe(0);
    const collected = await repo.gc({ graceMs: HOUR });
    expect(collected.deletedChunks).toBe(2);
    expect(await exists(backend, KEYS.layer(b.layerId))).toBe(false);
    for (const id of bOnly) expect(await exists(backend, KEYS.chunk(id))).toBe(false);
  });

  it("frees a deleted restore point's chunks, keeping those other restore points share", async () => {
    const { backend, repo, a, b, aIds, bOnly } = await setup();
    await repo.writeRestorePoint(pointInput([[b]], { id: "p2" }));
    await ageAll(backend);
    expect((await repo.gc({ graceMs: 0 })).deletedChunks).toBe(0);
    expect(await repo.deleteRestorePoint("p1")).toBe(true);
    const report = await repo.gc({ graceMs: 0 });
    expect(report.deletedLayers).toBe(1);
    const aOnly = aIds.filter((id) => !bOnly.includes(id) && id !== aIds[0]);
    expect(report.deletedChunks).toBe(aOnly.length);
    expect(await exists(backend, KEYS.chunk(aIds[0] ?? ""))).toBe(true); // shared with b
    expect(await exists(backend, KEYS.layer(a.layerId))).toBe(false);
    expect((await repo.verify()).ok).toBe(true);
  });

  it("never deletes what a layer write in flight has written or deduplicated", async () => {
    const { backend, repo, aIds } = await setup();
    await ageAll(backend);
    await repo.deleteRestorePoint("p1"); // everything is now unreferenced and old

    const first = await backend.get(KEYS.chunk(aIds[0] ?? ""));
    expect(first.length).toBeGreaterThan(0);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const fresh = [randomBytes(CS), randomBytes(CS), randomBytes(CS)];
    // the new layer reuses a's first chunk (dedup: only touched), then three new chunks, then waits
    const a0 = await collect(
      await repo.readLayer((await repo.findLayers({ imageId: "img-a" }))[0]?.id ?? ""),
    );
    async function* source(): AsyncGenerator<LayerSegment> {
      yield { offset: 0, data: a0.subarray(0, CS) };
      for (const [i, d] of fresh.entries()) yield { offset: (i + 1) * CS, data: d };
      await gate;
      yield { offset: 4 * CS, data: randomBytes(CS) };
    }
    let stored = 0;
    let resolveStored!: () => void;
    const fourStored = new Promise<void>((r) => {
      resolveStored = r;
    });
    const session = await repo.openSession("backup of web01 (test)");
    const writing = repo.writeLayer(
      source(),
      { imageId: "img-new" },
      {
        session,
        onProgress: (p) => {
          stored = p.newChunks + p.reusedChunks;
          if (stored >= 4) resolveStored();
        },
      },
    );
    await fourStored;
    const during = await repo.gc({ graceMs: 0 });
    expect(during.activeSessions).toBe(1);
    // the old orphan layers went, and chunks only they used; the writer's chunks all stayed
    expect(during.deletedLayers).toBe(2);
    expect(during.deletedChunks).toBeGreaterThan(0);
    expect(await exists(backend, KEYS.chunk(aIds[0] ?? ""))).toBe(true);
    release();
    const w = await writing;
    expect(w.newChunks).toBe(4);
    expect(w.reusedChunks).toBe(1);
    const point = await repo.writeRestorePoint(
      pointInput([[{ layerId: w.layerId, sha256: w.manifest.sha256, size: w.manifest.size }]], {
        id: "p-new",
      }),
    );
    await session.close();
    expect(point.state).toBe("complete");
    const v = await repo.verify();
    expect(v.ok).toBe(true);
    expect(v.checked.chunks).toBe(5);
    expect((await collect(await repo.readLayer(w.layerId))).subarray(0, CS).equals(a0.subarray(0, CS))).toBe(
      true,
    );

    // control: the same situation without a session and without a restore point is collected
    const orphan = await storeLayer(repo, fixture([{ data: randomBytes(CS) }]), "img-orphan");
    await ageAll(backend);
    const after = await repo.gc({ graceMs: 0 });
    expect(after.deletedLayers).toBe(1);
    expect(after.deletedChunks).toBe(1);
    expect(await exists(backend, KEYS.layer(orphan.layerId))).toBe(false);
    expect((await repo.verify()).ok).toBe(true);
  });

  it("keeps an old layer a session reuses, and ignores (then removes) a stale session", async () => {
    const { backend, repo, b, bOnly } = await setup();
    await ageAll(backend);
    const session = await repo.openSession("second backup");
    await repo.reuseLayer(b.layerId);
    const kept = await repo.gc({ graceMs: 0 });
    expect(kept.deletedLayers).toBe(0);
    expect(kept.deletedChunks).toBe(0);
    await repo.writeRestorePoint(pointInput([[b]], { id: "p2" }));
    await session.close();

    // a session whose writer died two hours ago protects nothing
    const dead = await repo.openSession("crashed worker");
    const deadKey = KEYS.session(dead.id);
    await B.age(backend, 2 * HOUR, [deadKey]);
    await repo.deleteRestorePoint("p2");
    await ageAll(backend);
    const report = await repo.gc({ graceMs: 0 });
    expect(report.activeSessions).toBe(0);
    expect(report.staleSessions).toBe(1);
    expect(report.deletedChunks).toBe(bOnly.length);
    expect(await exists(backend, deadKey)).toBe(false);
    await dead.close();
  });
});

describe.each(BACKENDS)("writer session leases ($name)", (B) => {
  it("refuses to record a layer or a restore point once gc took the session for dead", async () => {
    const backend = await B.fresh();
    const repo = await openRepository(backend, { create: true, chunkSize: CS });
    const session = await repo.openSession("backup of web01 (paused)", { leaseMs: 1000 });
    const layer = await repo.writeLayer(fixtureSegments(), { imageId: "img-1" }, { session });
    // What a gc does to a session it judged dead: its record goes, then what only it protected.
    expect(await backend.delete(KEYS.session(session.id))).toBe(true);
    await session.renew();
    const point = pointInput(
      [[{ layerId: layer.layerId, sha256: layer.manifest.sha256, size: layer.manifest.size }]],
      {
        id: "p-lost",
      },
    );
    await expect(repo.writeRestorePoint(point, { session })).rejects.toBeInstanceOf(SessionLostError);
    await expect(repo.writeRestorePoint(point, { session })).rejects.toThrow(
      /lost its lease \(its record is gone.*run the backup again/,
    );
    await expect(repo.writeLayer(fixtureSegments(), { imageId: "img-2" }, { session })).rejects.toThrow(
      SessionLostError,
    );
    expect(await backend.has(KEYS.point("p-lost"))).toBe(false);
    // the renewal did not bring the record back: the next gc is free to reclaim
    expect(await backend.has(KEYS.session(session.id))).toBe(false);
    await session.close();
  });

  it("takes a session for lost after half a lease without renewal, even if a late renewal succeeds", async () => {
    const backend = await B.fresh();
    const repo = await openRepository(backend, { create: true, chunkSize: CS });
    const session = await repo.openSession("backup of web01 (stalled)", { leaseMs: 60_000 });
    session.assertHeld();
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 31_000); // an event loop stalled past half the lease
      await session.renew(); // the record is still there, but a gc may already be reaping it
      expect(() => session.assertHeld()).toThrow(/lease was not renewed for 31 s \(lease 60 s\)/);
    } finally {
      vi.useRealTimers();
    }
    await session.close();
  });
});

describe("a killed writer", () => {
  it("protects nothing once its lease ran out: gc reclaims the chunks only it wrote and removes its record", async () => {
    const B = BACKENDS.find((b) => b.name === "local");
    if (!B) throw new Error("no local backend");
    const backend = await B.fresh();
    if (!(backend instanceof LocalDirectoryBackend)) throw new Error("not a local backend");
    const repo = await openRepository(backend, { create: true, chunkSize: CS });
    const kept = await storeLayer(repo, fixture([{ data: randomBytes(CS) }]), "img-kept");
    await repo.writeRestorePoint(pointInput([[kept]], { id: "p1" }));
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(import.meta.dirname, "dying-writer.ts"), backend.root],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const [line] = (await once(readline.createInterface({ input: child.stdout }), "line")) as [string];
    const { sessionId, layerId } = JSON.parse(line) as { sessionId: string; layerId: string };
    child.kill("SIGKILL");
    await once(child, "exit");
    const orphans = await ids(repo, layerId);
    expect(orphans).toHaveLength(2);

    // While its lease may still run, the dead writer's chunks stay (gc cannot tell it from a slow one)…
    const early = await repo.gc({ graceMs: 0 });
    expect(early.activeSessions).toBe(1);
    expect(early.deletedChunks).toBe(0);
    // …and once its record is older than the lease plus the clock margin, they go, with the record.
    await B.age(backend, 2 * 60_000, [KEYS.session(sessionId)]);
    const report = await repo.gc({ graceMs: 0 });
    expect(report.activeSessions).toBe(0);
    expect(report.staleSessions).toBe(1);
    expect(report.deletedLayers).toBe(1);
    expect(report.deletedChunks).toBe(2);
    for (const id of orphans) expect(await backend.has(KEYS.chunk(id))).toBe(false);
    expect(await backend.has(KEYS.session(sessionId))).toBe(false);
    expect((await repo.verify()).ok).toBe(true);
  });
});

function fixtureSegments(): AsyncIterable<LayerSegment> {
  return iterate(fixture([{ data: randomBytes(CS) }, { data: randomBytes(CS) }]).segments);
}
