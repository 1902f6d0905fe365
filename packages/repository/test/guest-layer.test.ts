import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type LayerSegment, openRepository, type Repository } from "../src";
import { KEYS } from "../src/store";
import { BACKENDS } from "./backends";
import { CS, collect, compressible, iterate, pointInput, sha256, tempDir } from "./helpers";

/** 10 chunks and a partial last one: a guest disk whose size is not a multiple of the chunk size. */
const SIZE = 10 * CS + 5000;

async function repoWithBase(): Promise<{ repo: Repository; base: Buffer; baseId: string }> {
  const repo = await openRepository(await tempDir(), { create: true, chunkSize: CS });
  const base = Buffer.alloc(SIZE);
  compressible(4 * CS, 3).copy(base, 0); // chunks 0-3 data, 4-5 zero (holes), 6.. random
  randomBytes(SIZE - 6 * CS).copy(base, 6 * CS);
  const full = await repo.writeLayer(
    iterate<LayerSegment>([
      { offset: 0, data: base.subarray(0, 4 * CS) },
      { offset: 4 * CS, length: 2 * CS, zero: true },
      { offset: 6 * CS, data: base.subarray(6 * CS) },
    ]),
    { diskId: "d1", format: "raw" },
    { sparseSource: true, expectedSize: SIZE },
  );
  return { repo, base, baseId: full.layerId };
}

const local = BACKENDS.find((b) => b.name === "local") as (typeof BACKENDS)[number];

const chunkIds = async (repo: Repository, id: string) =>
  (await repo.readLayerManifest(id)).entries.map((e) => ("id" in e ? e.id : "hole"));

describe("a guest-data layer written against a base", () => {
  it("stores only the chunks the dirty segments touch and reads back as the base with the changes", async () => {
    const { repo, base, baseId } = await repoWithBase();
    const want = Buffer.from(base);
    const dirty: LayerSegment[] = [];
    const write = (offset: number, data: Buffer) => {
      data.copy(want, offset);
      dirty.push({ offset, data });
    };
    write(100, randomBytes(300)); // inside chunk 0, partial at both ends
    write(2 * CS - 10, randomBytes(20)); // across chunks 1 and 2
    dirty.push({ offset: 3 * CS + 7, length: CS, zero: true }); // zero run across chunks 3 and 4
    want.fill(0, 3 * CS + 7, 4 * CS + 7);
    write(5 * CS + 4096, randomBytes(4096)); // into a hole of the base
    dirty.push({ offset: 7 * CS, length: CS, zero: true }); // a whole chunk zeroed: a hole now
    want.fill(0, 7 * CS, 8 * CS);
    write(SIZE - 1000, randomBytes(1000)); // the partial last chunk, to its end

    const before = await repo.stats();
    const inc = await repo.writeLayer(
      iterate(dirty),
      { diskId: "d1", format: "raw" },
      { base: baseId, sparseSource: true, expectedSize: SIZE },
    );
    expect(inc.manifest.size).toBe(SIZE);
    expect(inc.manifest.digestOf).toBe("entries");
    expect(sha256(await collect(await repo.readLayer(inc.layerId)))).toBe(sha256(want));

    // Chunks 0, 1, 2, 3, 5, 10 changed; 7 became a hole; 4 was and stays a hole; 6, 8, 9 are the base's.
    const [b, n] = [await chunkIds(repo, baseId), await chunkIds(repo, inc.layerId)];
    const same = n.flatMap((id, i) => (id === b[i] ? [i] : []));
    expect(same).toEqual([4, 6, 8, 9]);
    expect(n[7]).toBe("hole");
    expect(inc.newChunks).toBe(6);
    expect(inc.reusedChunks).toBe(3);
    expect((await repo.stats()).chunks - before.chunks).toBe(6);
  });

  it("stays whole when the base's restore point is pruned and gc runs, and verify passes", async () => {
    const { repo, base, baseId } = await repoWithBase();
    const baseLayer = await repo.readLayerManifest(baseId);
    await repo.writeRestorePoint(
      pointInput([[{ layerId: baseId, sha256: baseLayer.sha256, size: SIZE }]], { id: "p1" }),
    );
    const change = randomBytes(CS);
    const inc = await repo.writeLayer(
      iterate<LayerSegment>([{ offset: 8 * CS + 1, data: change }]),
      { diskId: "d1", format: "raw" },
      { base: baseId, sparseSource: true, expectedSize: SIZE },
    );
    await repo.writeRestorePoint(
      pointInput([[{ layerId: inc.layerId, sha256: inc.manifest.sha256, size: SIZE }]], { id: "p2" }),
    );
    expect(await repo.deleteRestorePoint("p1")).toBe(true);
    // Everything looks written an hour ago: a file's time may sit a tick past the clock gc reads (coarse kernel
    // clock, a host's clock through a shared file system), and a chunk written "since the cutoff" is kept.
    await local.age(repo.backend, 3600_000);
    const report = await repo.gc({ graceMs: 0 });
    expect(report.deletedLayers).toBe(1); // the base's manifest
    expect(report.deletedChunks).toBe(2); // the two chunks the change replaced
    expect(await repo.backend.stat(KEYS.layer(baseId))).toBeUndefined();
    const want = Buffer.from(base);
    change.copy(want, 8 * CS + 1);
    expect(sha256(await collect(await repo.readLayer(inc.layerId)))).toBe(sha256(want));
    expect((await repo.verify()).ok).toBe(true);
  });

  it("fails, naming the chunk, when a chunk it shares with the base is gone", async () => {
    const { repo, baseId } = await repoWithBase();
    const [, , , , , , six] = await chunkIds(repo, baseId);
    await repo.backend.delete(KEYS.chunk(six ?? ""));
    await expect(
      repo.writeLayer(
        iterate<LayerSegment>([{ offset: 0, data: randomBytes(10) }]),
        {},
        { base: baseId, sparseSource: true, expectedSize: SIZE },
      ),
    ).rejects.toThrow(six ?? "");
  });

  it("refuses segments out of order or past the layer's end", async () => {
    const { repo, baseId } = await repoWithBase();
    const opts = { base: baseId, sparseSource: true, expectedSize: SIZE };
    await expect(
      repo.writeLayer(
        iterate<LayerSegment>([
          { offset: CS, data: randomBytes(10) },
          { offset: 5, data: randomBytes(10) },
        ]),
        {},
        opts,
      ),
    ).rejects.toThrow(/overlaps/);
    await expect(
      repo.writeLayer(iterate<LayerSegment>([{ offset: SIZE - 5, data: randomBytes(10) }]), {}, opts),
    ).rejects.toThrow(/outside/);
  });
});
