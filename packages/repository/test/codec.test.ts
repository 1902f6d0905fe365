import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { openRepository, zstdDecompressedBound } from "../src";
import { CS, chunkPath, collect, compressible, fixture, storeLayer, tempDir } from "./helpers";

const MISSING = "@mongodb-js/zstd-not-installed";

async function codecsOf(dir: string, ids: string[]): Promise<number[]> {
  return Promise.all(ids.map(async (id) => (await fs.readFile(chunkPath(dir, id)))[6] ?? -1));
}

const layerFixture = () => fixture([{ data: compressible(2 * CS) }, { data: randomBytes(CS) }, { zero: CS }]);

describe("compression", () => {
  it("compresses with zstd, and keeps incompressible chunks as they are", async () => {
    const dir = await tempDir();
    const repo = await openRepository(dir, { create: true, chunkSize: CS });
    expect(repo.compression).toBe("zstd");
    const f = layerFixture();
    const { result } = await storeLayer(repo, f);
    const ids = result.manifest.entries.flatMap((e) => ("id" in e ? [e.id] : []));
    expect(await codecsOf(dir, ids)).toEqual([1, 1, 0]); // zstd, zstd, none
    expect(result.addedBytes).toBeLessThan(CS + CS / 2);
    expect((await collect(await repo.readLayer(result.layerId))).equals(f.bytes)).toBe(true);
  });

  it("falls back to deflate with a warning when the zstd binding cannot be loaded, and still round-trips", async () => {
    const dir = await tempDir();
    const warnings: string[] = [];
    const repo = await openRepository(dir, {
      create: true,
      chunkSize: CS,
      zstdModule: MISSING,
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /zstd is unavailable \(Cannot find module .*\); compressing new chunks with deflate/,
    );
    expect(repo.compression).toBe("deflate");
    const f = layerFixture();
    const { result } = await storeLayer(repo, f);
    const ids = result.manifest.entries.flatMap((e) => ("id" in e ? [e.id] : []));
    expect(await codecsOf(dir, ids)).toEqual([2, 2, 0]); // deflate, deflate, none
    expect((await collect(await repo.readLayer(result.layerId))).equals(f.bytes)).toBe(true);
    expect((await repo.verify()).ok).toBe(true);

    // the codec is in each chunk: a zstd-enabled process reads deflate chunks...
    const normal = await openRepository(dir);
    expect((await collect(await normal.readLayer(result.layerId))).equals(f.bytes)).toBe(true);
    // ...and a process without the binding still reads zstd chunks (and manifests), with a pure-JS decoder
    const zf = fixture([{ data: compressible(3 * CS, 9) }]);
    const z = await storeLayer(normal, zf);
    expect(await codecsOf(dir, [(z.result.manifest.entries[0] as { id: string }).id])).toEqual([1]);
    expect((await collect(await repo.readLayer(z.layerId))).equals(zf.bytes)).toBe(true);
  });

  it("bounds zstd output from headers alone: real frames pass, multi-frame bombs do not", async () => {
    const zstd = createRequire(import.meta.url)("@mongodb-js/zstd") as {
      compress(d: Buffer, l?: number): Promise<Buffer>;
    };
    for (const data of [
      compressible(1),
      compressible(100_000),
      compressible(4 * 1024 * 1024),
      randomBytes(4 * 1024 * 1024 - 5),
      Buffer.concat([randomBytes(300_000), Buffer.alloc(700_000)]),
    ]) {
      const bound = zstdDecompressedBound(await zstd.compress(data, 3));
      expect(bound).toBeGreaterThanOrEqual(data.length);
      expect(bound).toBeLessThanOrEqual(data.length + 128 * 1024);
    }
    const frame = await zstd.compress(Buffer.alloc(8 * 1024 * 1024), 3);
    expect(zstdDecompressedBound(Buffer.concat([frame, frame, frame]))).toBeGreaterThanOrEqual(
      24 * 1024 * 1024,
    );
    expect(() => zstdDecompressedBound(frame.subarray(0, frame.length - 2))).toThrow(/truncated/);
    expect(() => zstdDecompressedBound(Buffer.from("not zstd at all"))).toThrow(/not a zstd frame/);
    // a frame that claims 1 TiB of content (a decoder would allocate it) but holds one small raw block
    const liar = Buffer.from([
      0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0, 0x19, 0, 0, 0x61, 0x62, 0x63,
    ]);
    expect(() => zstdDecompressedBound(liar)).toThrow(/declares 1099511627776 bytes/);
  });
});
