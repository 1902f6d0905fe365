import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { openRepository } from "../src";
import { BACKENDS, chunkKeys } from "./backends";
import {
  CS,
  collect,
  compressible,
  fixture,
  iterate,
  mixedFixture,
  pointInput,
  sha256,
  storeLayer,
} from "./helpers";

describe.each(BACKENDS)("writeLayer / readLayer ($name)", (B) => {
  it("round-trips data, zero chunks and a partial last chunk byte for byte", async () => {
    const backend = await B.fresh();
    const repo = await openRepository(backend, { create: true, chunkSize: CS });
    const f = mixedFixture();
    const progress: number[] = [];
    const r = await repo.writeLayer(
      iterate(f.segments),
      { imageId: "img-1", format: "cow" },
      {
        onProgress: (p) => progress.push(p.bytes),
        expectedSize: f.bytes.length,
      },
    );
    expect(r.manifest.size).toBe(f.bytes.length);
    expect(r.manifest.sha256).toBe(sha256(f.bytes));
    const entries = r.manifest.entries;
    expect(entries).toHaveLength(Math.ceil(f.bytes.length / CS));
    const holes = entries.flatMap((e, i) => ("hole" in e ? [i] : []));
    expect(holes).toEqual([2, 3, 4]);
    expect(entries.at(-1)?.length).toBe(f.bytes.length % CS);
    expect(progress.at(-1)).toBe(f.bytes.length);
    expect(r.manifest.dataBytes).toBe(f.bytes.length - 3 * CS);

    const back = await collect(await repo.readLayer(r.layerId));
    expect(back.equals(f.bytes)).toBe(true);

    // the repository reopened from disk reads the same
    const again = await openRepository(backend);
    expect((await collect(await again.readLayer(r.layerId))).equals(f.bytes)).toBe(true);
    expect((await again.readLayerManifest(r.layerId)).meta).toEqual({ imageId: "img-1", format: "cow" });
  });

  it("takes a Node Readable of bytes as the source", async () => {
    const repo = await openRepository(await B.fresh(), { create: true, chunkSize: CS });
    const bytes = Buffer.concat([compressible(3 * CS + 77), Buffer.alloc(2 * CS), randomBytes(CS)]);
    const pieces = Array.from({ length: Math.ceil(bytes.length / 10_000) }, (_, i) =>
      bytes.subarray(i * 10_000, (i + 1) * 10_000),
    );
    const r = await repo.writeLayer(Readable.from(pieces), { imageId: "img" });
    expect(r.manifest.sha256).toBe(sha256(bytes));
    expect((await collect(await repo.readLayer(r.layerId))).equals(bytes)).toBe(true);
  });

  it("stores nothing for zero chunks, whether given as zero segments or as zero bytes", async () => {
    const backend = await B.fresh();
    const repo = await openRepository(backend, { create: true, chunkSize: CS });
    const f = fixture([{ zero: 5 * CS }, { data: Buffer.alloc(2 * CS + 10) }]);
    const r = await storeLayer(repo, f);
    expect(await chunkKeys(backend)).toEqual([]);
    expect(r.result.manifest.entries.every((e) => "hole" in e)).toBe(true);
    expect(r.result.holes).toBe(8);
    expect(r.sha256).toBe(sha256(f.bytes));
    expect((await collect(await repo.readLayer(r.layerId))).equals(f.bytes)).toBe(true);
  });

  it("handles an empty layer", async () => {
    const repo = await openRepository(await B.fresh(), { create: true, chunkSize: CS });
    const r = await repo.writeLayer(iterate([]), {});
    expect(r.manifest.size).toBe(0);
    expect(r.manifest.sha256).toBe(sha256(Buffer.alloc(0)));
    expect((await collect(await repo.readLayer(r.layerId))).length).toBe(0);
  });

  it("reads ranges and segments (zero runs merged) that match the source", async () => {
    const repo = await openRepository(await B.fresh(), { create: true, chunkSize: CS });
    const f = mixedFixture();
    const { layerId } = await storeLayer(repo, f);
    for (const [offset, length] of [
      [0, 1],
      [CS - 3, 10],
      [CS + 500, 3 * CS],
      [2 * CS + 7, 2 * CS],
      [f.bytes.length - 5, 5],
      [f.bytes.length, 0],
    ] as const) {
      const got = await collect(await repo.readLayer(layerId, { offset, length }));
      expect(got.equals(f.bytes.subarray(offset, offset + length))).toBe(true);
    }
    await expect(repo.readLayer(layerId, { offset: f.bytes.length - 1, length: 2 })).rejects.toThrow(
      /outside layer/,
    );

    const rebuilt = Buffer.alloc(f.bytes.length, 0xff);
    const zeroRuns: number[][] = [];
    for await (const s of repo.readLayerSegments(layerId)) {
      if ("data" in s) s.data.copy(rebuilt, s.offset);
      else {
        rebuilt.fill(0, s.offset, s.offset + s.length);
        zeroRuns.push([s.offset, s.length]);
      }
    }
    expect(rebuilt.equals(f.bytes)).toBe(true);
    expect(zeroRuns).toEqual([[2 * CS, 3 * CS]]);
  });

  it("refuses a source with a gap, or one that ends early", async () => {
    const repo = await openRepository(await B.fresh(), { create: true, chunkSize: CS });
    const gap = iterate([
      { offset: 0, data: randomBytes(100) },
      { offset: 200, data: randomBytes(100) },
    ]);
    await expect(repo.writeLayer(gap, {})).rejects.toThrow(/offset 200 does not follow .* ended at 100/);
    await expect(
      repo.writeLayer(iterate([{ offset: 0, data: randomBytes(100) }]), {}, { expectedSize: 1000 }),
    ).rejects.toThrow(/ended after 100 bytes, expected 1000/);
  });

  it("stops on abort without writing a layer manifest", async () => {
    const backend = await B.fresh();
    const repo = await openRepository(backend, { create: true, chunkSize: CS });
    const ac = new AbortController();
    async function* source() {
      for (let i = 0; i < 100; i++) {
        if (i === 5) ac.abort(new Error("cancelled by operator"));
        yield randomBytes(CS);
      }
    }
    await expect(repo.writeLayer(source(), {}, { signal: ac.signal })).rejects.toThrow(
      /cancelled by operator/,
    );
    expect(await repo.findLayers({})).toEqual([]);
  });

  it("deduplicates: the same layer again adds no chunk, a layer sharing chunks adds only its new ones", async () => {
    const backend = await B.fresh();
    const repo = await openRepository(backend, { create: true, chunkSize: CS });
    const f = mixedFixture();
    const first = await storeLayer(repo, f, "img-a");
    const files = await chunkKeys(backend);
    expect(files.length).toBe(first.result.newChunks);
    expect(files.length).toBe(5); // chunks 0, 1, 5, 6 and 7 hold data
    const second = await storeLayer(repo, f, "img-a");
    expect(second.result.newChunks).toBe(0);
    expect(second.result.reusedChunks).toBe(first.result.newChunks);
    expect(second.result.addedBytes).toBe(0);
    expect(await chunkKeys(backend)).toEqual(files);

    // a layer = the first three chunks of f, then one new chunk
    const shared = fixture([{ data: f.bytes.subarray(0, 3 * CS) }, { data: randomBytes(CS) }]);
    const third = await storeLayer(repo, shared, "img-b");
    expect(third.result.newChunks).toBe(1);
    expect((await chunkKeys(backend)).length).toBe(files.length + 1);
    expect((await collect(await repo.readLayer(third.layerId))).equals(shared.bytes)).toBe(true);

    // repeated content inside one layer is stored once
    const c = randomBytes(CS);
    const repeated = await storeLayer(repo, fixture([{ data: Buffer.concat([c, c, c, c]) }]), "img-c");
    expect(repeated.result.newChunks).toBe(1);
    expect(repeated.result.reusedChunks).toBe(3);
  });
});

describe.each(BACKENDS)("restore points ($name)", (B) => {
  it("records a restore point after its layers and reads it back", async () => {
    const repo = await openRepository(await B.fresh(), { create: true, chunkSize: CS });
    const base = await storeLayer(repo, mixedFixture(), "img-base");
    const top = await storeLayer(repo, fixture([{ data: randomBytes(3000) }]), "img-top");
    const input = pointInput(
      [
        [
          { ...base, imageId: "img-base" },
          { ...top, imageId: "img-top" },
        ],
      ],
      {
        id: "rp-1",
        tags: ["nightly"],
        description: "before upgrade",
        flowsExtra: { mode: "snapshot-chain" },
      },
    );
    const written = await repo.writeRestorePoint(input);
    expect(written.state).toBe("complete");
    const read = await repo.readRestorePoint("rp-1");
    expect(read).toEqual(written);
    expect(read.flowsExtra).toEqual({ mode: "snapshot-chain" }); // extensible: unknown fields survive
    expect(read.disks[0]?.layers.map((l) => l.parentImageId)).toEqual([null, "img-base"]);
    expect((await repo.listRestorePoints()).map((p) => p.id)).toEqual(["rp-1"]);
    await expect(repo.writeRestorePoint(input)).rejects.toThrow(/rp-1 already exists/);
  });

  it("refuses a restore point naming a missing layer, a wrong hash or a broken chain", async () => {
    const repo = await openRepository(await B.fresh(), { create: true, chunkSize: CS });
    const l = await storeLayer(repo, fixture([{ data: randomBytes(500) }]));
    await expect(repo.writeRestorePoint(pointInput([[{ ...l, layerId: "nope" }]]))).rejects.toThrow(
      /layers\/nope is missing/,
    );
    await expect(repo.writeRestorePoint(pointInput([[{ ...l, sha256: "0".repeat(64) }]]))).rejects.toThrow(
      /holds 500 bytes with SHA-256/,
    );
    const broken = pointInput([[l, l]]);
    const layer1 = broken.disks[0]?.layers[1];
    if (layer1) layer1.parentImageId = "someone-else";
    await expect(repo.writeRestorePoint(broken)).rejects.toThrow(/backs onto someone-else/);
    expect(await repo.listRestorePoints()).toEqual([]);
  });

  it("finds layers by image id for reuse and reports repository stats", async () => {
    const backend = await B.fresh();
    const repo = await openRepository(backend, { create: true, chunkSize: CS });
    const f = mixedFixture();
    const a = await storeLayer(repo, f, "img-a");
    const b = await storeLayer(repo, fixture([{ data: f.bytes.subarray(0, 2 * CS) }, { zero: CS }]), "img-b");
    expect((await repo.findLayers({ imageId: "img-a" })).map((m) => m.id)).toEqual([a.layerId]);
    expect(await repo.findLayers({ imageId: "img-a", sha256: "0".repeat(64) })).toEqual([]);
    await repo.writeRestorePoint(pointInput([[a]], { id: "p1" }));
    await repo.writeRestorePoint(pointInput([[a], [b]], { id: "p2" }));
    const s = await repo.stats();
    const files = await chunkKeys(backend);
    expect(s.restorePoints).toBe(2);
    expect(s.layers).toBe(2);
    expect(s.chunks).toBe(files.length);
    expect(s.logicalBytes).toBe(2 * a.size + b.size);
    expect(s.dataBytes).toBe(2 * a.result.manifest.dataBytes + b.result.manifest.dataBytes);
    expect(s.dedupRatio).toBeGreaterThan(2); // three references to mostly the same, partly compressible, data
  });
});
