import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import {
  ChunkError,
  CorruptObjectError,
  openRepository,
  type Repository,
  type RepositoryBackend,
} from "../src";
import { KEYS } from "../src/store";
import { BACKENDS, chunkKeys, damage } from "./backends";
import { CS, collect, compressible, fixture, mixedFixture, pointInput, storeLayer } from "./helpers";

/** Three restore points: p1 and p2 share layer A, p3 has only layer B. */
async function threePoints(backend: RepositoryBackend) {
  const repo = await openRepository(backend, { create: true, chunkSize: CS });
  const fa = mixedFixture();
  const fb = fixture([{ data: randomBytes(2 * CS) }, { data: compressible(CS) }]);
  const a = await storeLayer(repo, fa, "img-a");
  const b = await storeLayer(repo, fb, "img-b");
  await repo.writeRestorePoint(pointInput([[a]], { id: "p1" }));
  await repo.writeRestorePoint(pointInput([[a]], { id: "p2" }));
  await repo.writeRestorePoint(pointInput([[b]], { id: "p3" }));
  return { repo, a, b, fa, fb };
}

function dataChunks(
  m: Awaited<ReturnType<Repository["readLayerManifest"]>>,
): { id: string; offset: number }[] {
  return m.entries.flatMap((e, i) => ("id" in e ? [{ id: e.id, offset: i * m.chunkSize }] : []));
}

describe.each(BACKENDS)("verify and reading damaged data ($name)", (B) => {
  it("passes a healthy repository", async () => {
    const backend = await B.fresh();
    const { repo, a, b } = await threePoints(backend);
    const report = await repo.verify();
    expect(report.ok).toBe(true);
    expect(report.checked.restorePoints).toBe(3);
    expect(report.checked.layers).toBe(2);
    expect(report.checked.chunks).toBe((await chunkKeys(backend)).length);
    expect(report.checked.bytes).toBe(a.result.manifest.dataBytes + b.result.manifest.dataBytes);
  });

  it("quarantines a corrupt chunk: the next backup of its data stores it again, and a later verify heals the points", async () => {
    const backend = await B.fresh();
    const { repo, a, fa } = await threePoints(backend);
    const victim = dataChunks(await repo.readLayerManifest(a.layerId))[0];
    if (!victim) throw new Error("fixture has chunks");
    let bad = Buffer.alloc(0);
    await damage(backend, KEYS.chunk(victim.id), (bytes) => {
      bytes[bytes.length - 3] = (bytes[bytes.length - 3] ?? 0) ^ 0x01;
      bad = Buffer.from(bytes);
      return bytes;
    });

    // without the option verify only reports; dedup would keep pointing at the bad copy
    expect((await repo.verify()).badChunks[0]?.quarantined).toBeUndefined();
    expect(await backend.has(KEYS.chunk(victim.id))).toBe(true);

    const report = await repo.verify({ quarantine: true });
    expect(report.badChunks).toMatchObject([{ chunkId: victim.id, problem: "corrupt", quarantined: true }]);
    expect(report.badRestorePoints.map((p) => p.id)).toEqual(["p1", "p2"]);
    expect(await backend.has(KEYS.chunk(victim.id))).toBe(false);
    expect((await backend.get(KEYS.quarantined(victim.id))).equals(bad)).toBe(true);
    // still damaged (now missing) until the data comes back
    expect((await repo.verify({ pointId: "p1" })).badChunks).toMatchObject([
      { chunkId: victim.id, problem: "missing" },
    ]);

    // the next backup of the same data finds the chunk absent and writes a good copy under the same id
    const again = await storeLayer(repo, fa, "img-a2");
    expect(again.result.newChunks).toBe(1);
    await repo.writeRestorePoint(pointInput([[again]], { id: "p4" }));
    const healed = await repo.verify({ quarantine: true });
    expect(healed.ok).toBe(true);
    expect(healed.checked.restorePoints).toBe(4);
    expect((await collect(await repo.readLayer(a.layerId))).equals(fa.bytes)).toBe(true);
  });

  it("names a chunk with one flipped byte, its layer and the restore points it breaks; reads refuse", async () => {
    const backend = await B.fresh();
    const { repo, a } = await threePoints(backend);
    const m = await repo.readLayerManifest(a.layerId);
    const victim = dataChunks(m)[1];
    if (!victim) throw new Error("fixture has chunks");
    await damage(backend, KEYS.chunk(victim.id), (bytes) => {
      const at = bytes.length - 7;
      bytes[at] = (bytes[at] ?? 0) ^ 0x10;
      return bytes;
    });

    const report = await repo.verify();
    expect(report.ok).toBe(false);
    expect(report.badChunks).toHaveLength(1);
    expect(report.badChunks[0]).toMatchObject({
      chunkId: victim.id,
      problem: "corrupt",
      layers: [a.layerId],
      restorePoints: ["p1", "p2"],
    });
    expect(report.badLayers.map((l) => [l.layerId, l.problem])).toEqual([[a.layerId, "chunks"]]);
    expect(report.badRestorePoints.map((p) => p.id)).toEqual(["p1", "p2"]);

    // scoped to one restore point: the same finding; p3 alone is fine
    expect((await repo.verify({ pointId: "p2" })).badChunks.map((c) => c.chunkId)).toEqual([victim.id]);
    expect((await repo.verify({ pointId: "p3" })).ok).toBe(true);
    await expect(repo.verify({ pointId: "nope" })).rejects.toThrow(/restore point nope is not in repository/);

    // reading the layer: as a stream, as segments, at random
    const err = await collect(await repo.readLayer(a.layerId)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChunkError);
    expect(String(err)).toContain(
      `chunk ${victim.id} of layer ${a.layerId} at offset ${victim.offset} is corrupt`,
    );
    await expect(async () => {
      for await (const _ of repo.readLayerSegments(a.layerId));
    }).rejects.toThrow(victim.id);
    const src = await repo.openLayerSource(a.layerId);
    await expect(src.read(victim.offset + 10, 10)).rejects.toThrow(/hash mismatch|invalid|decompresses/);
    expect((await src.read(0, 10)).length).toBe(10); // other chunks still read
  });

  it("never reads a truncated chunk or a leftover temp file as valid; verify names them", async () => {
    const backend = await B.fresh();
    const { repo, b } = await threePoints(backend);
    const [first, second] = dataChunks(await repo.readLayerManifest(b.layerId));
    if (!first || !second) throw new Error("fixture has chunks");
    // a torn write: the object cut short
    await damage(backend, KEYS.chunk(first.id), (bytes) => bytes.subarray(0, bytes.length >> 1));
    // a crash mid-write: the chunk never became an object, only a leftover holds a complete copy of it
    const copy = await backend.get(KEYS.chunk(second.id));
    await backend.delete(KEYS.chunk(second.id));
    await B.interruptWrite(backend, KEYS.chunk(second.id), copy);

    const report = await repo.verify({ pointId: "p3" });
    expect(report.badChunks.map((c) => [c.chunkId, c.problem])).toEqual(
      [
        [first.id, "corrupt"],
        [second.id, "missing"],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    expect(report.badChunks.find((c) => c.chunkId === first.id)?.detail).toMatch(/truncated/);
    expect(report.badRestorePoints.map((p) => p.id)).toEqual(["p3"]);
    await expect(collect(await repo.readLayer(b.layerId))).rejects.toThrow(`chunk ${first.id}`);
    await expect(repo.reuseLayer(b.layerId)).rejects.toThrow(`chunk ${second.id} of layer ${b.layerId}`);
    expect((await repo.stats()).chunks).toBe((await chunkKeys(backend)).length); // the leftover is no chunk
    expect(await B.leftovers(backend)).toBe(1);

    // gc removes the stale leftover (and keeps everything referenced)
    const gc = await repo.gc({ graceMs: 0 });
    expect(gc.incompleteRemoved).toBe(1);
    expect(gc.missingChunks).toBe(1);
    expect(await B.leftovers(backend)).toBe(0);
  });

  it("reports a damaged or missing layer manifest and the restore points it breaks", async () => {
    const backend = await B.fresh();
    const { repo, a, b } = await threePoints(backend);
    await damage(backend, KEYS.layer(a.layerId), (bytes) => {
      bytes[40] = (bytes[40] ?? 0) ^ 1;
      return bytes;
    });
    await backend.delete(KEYS.layer(b.layerId));
    await expect(repo.readLayer(a.layerId)).rejects.toThrow(CorruptObjectError);
    await expect(repo.readLayer(a.layerId)).rejects.toThrow(new RegExp(`layers/${a.layerId} is corrupt`));
    const report = await repo.verify();
    expect(report.badLayers.map((l) => [l.layerId, l.problem, l.restorePoints])).toEqual(
      [
        [a.layerId, "corrupt", ["p1", "p2"]],
        [b.layerId, "missing", ["p3"]],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    expect(report.badRestorePoints.map((p) => [p.id, p.problem])).toEqual([
      ["p1", "broken"],
      ["p2", "broken"],
      ["p3", "broken"],
    ]);
  });

  it("refuses hostile objects: bad magic, bad JSON, and a zstd bomb, without decompressing it", async () => {
    const backend = await B.fresh();
    const { repo, a, b } = await threePoints(backend);
    const [victim] = dataChunks(await repo.readLayerManifest(b.layerId));
    if (!victim) throw new Error("fixture has chunks");
    const zstd = createRequire(import.meta.url)("@mongodb-js/zstd") as {
      compress(d: Buffer, l?: number): Promise<Buffer>;
    };
    // 16 frames of 64 MiB of zeroes each: 1 GiB if decompressed, about 33 KiB stored
    const frame = await zstd.compress(Buffer.alloc(64 * 1024 * 1024), 19);
    const payload = Buffer.concat(Array.from({ length: 16 }, () => frame));
    const header = Buffer.alloc(24);
    header.write("LBRO");
    header[4] = 1; // version
    header[5] = 1; // chunk
    header[6] = 1; // zstd
    header.writeBigUInt64BE(BigInt(CS), 8);
    header.writeBigUInt64BE(BigInt(payload.length), 16);
    await backend.put(KEYS.chunk(victim.id), Buffer.concat([header, payload]));
    const rss = process.memoryUsage().rss;
    const report = await repo.verify({ pointId: "p3" });
    expect(report.badChunks[0]?.detail).toMatch(/could expand to \d+ bytes/);
    expect(process.memoryUsage().rss - rss).toBeLessThan(512 * 1024 * 1024);

    await backend.put(KEYS.chunk(victim.id), Buffer.from("<html>not a chunk</html>, long enough to parse"));
    expect((await repo.verify({ pointId: "p3" })).badChunks[0]?.detail).toMatch(/bad magic/);

    // a restore point that is valid envelope but not a manifest: readers and gc refuse it clearly
    await backend.put(KEYS.point("p9"), await backend.get(KEYS.layer(a.layerId)));
    await expect(repo.readRestorePoint("p9")).rejects.toThrow(/points\/p9 is corrupt: holds object kind 2/);
    await expect(repo.gc({ graceMs: 0 })).rejects.toThrow(/gc stopped before deleting anything: points\/p9/);
    expect((await repo.verify()).badRestorePoints).toContainEqual(
      expect.objectContaining({ id: "p9", problem: "unreadable" }),
    );
  });
});
