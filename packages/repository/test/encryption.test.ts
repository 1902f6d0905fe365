import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openRepository, RepositoryKeyError } from "../src";
import {
  CS,
  chunkFiles,
  chunkPath,
  collect,
  compressible,
  fixture,
  listFiles,
  pointInput,
  sha256,
  storeLayer,
  tempDir,
} from "./helpers";

const MARKER = "LIFEBOAT-PLAINTEXT-MARKER-7f3a9c";

/** A layer in which the marker appears in incompressible chunks (stored raw when not encrypted) and in text. */
function markedFixture() {
  const withMarker = (b: Buffer) => {
    for (let at = 0; at + MARKER.length < b.length; at += 4096) b.write(MARKER, at, "latin1");
    return b;
  };
  return fixture([
    { data: withMarker(randomBytes(2 * CS)) },
    { zero: CS },
    { data: withMarker(compressible(CS + 333)) },
  ]);
}

async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const f of await listFiles(dir))
    if ((await fs.readFile(path.join(dir, f))).includes(Buffer.from(needle, "latin1"))) hits.push(f);
  return hits;
}

async function writeMarkedRepository(dir: string, key?: Buffer) {
  const repo = await openRepository(dir, { create: true, chunkSize: CS, key });
  const f = markedFixture();
  const l = await storeLayer(repo, f, `image-${MARKER}`);
  await repo.writeRestorePoint(
    pointInput([[l]], {
      id: "rp-1",
      vm: { id: "vm-1", name: `vm-${MARKER}` },
      ovf: `<ovf:Envelope><Name>${MARKER}</Name></ovf:Envelope>`,
      description: MARKER,
    }),
  );
  return { repo, f, l };
}

describe("encrypted repository", () => {
  it("leaves no plaintext in any file (the same data unencrypted does)", async () => {
    const plainDir = await tempDir();
    await writeMarkedRepository(plainDir);
    const plainHits = await filesContaining(plainDir, MARKER);
    // control: without encryption the marker is visible in raw chunks (and unencrypted manifests)
    expect(plainHits.some((f) => f.startsWith("chunks"))).toBe(true);

    const dir = await tempDir();
    const key = randomBytes(32);
    const { f, l } = await writeMarkedRepository(dir, key);
    expect(await filesContaining(dir, MARKER)).toEqual([]);
    const repo = await openRepository(dir, { key });
    expect(repo.encrypted).toBe(true);
    expect((await collect(await repo.readLayer(l.layerId))).equals(f.bytes)).toBe(true);
    expect((await repo.readRestorePoint("rp-1")).description).toBe(MARKER);
    expect((await repo.verify()).ok).toBe(true);
  });

  it("names chunks by a keyed hash, not the SHA-256 of their content", async () => {
    const dir = await tempDir();
    const key = randomBytes(32);
    const { f } = await writeMarkedRepository(dir, key);
    const ids = (await chunkFiles(dir)).map((p) => path.basename(p));
    expect(ids).toHaveLength(4); // chunks 0, 1, 3 and the partial 4; chunk 2 is a hole
    const plainIds = [0, 1, 3, 4].map((i) => sha256(f.bytes.subarray(i * CS, (i + 1) * CS)));
    for (const id of plainIds) expect(ids).not.toContain(id);

    // without encryption the very same layer's chunks are named by the SHA-256 of their content
    const plainDir = await tempDir();
    const repo = await openRepository(plainDir, { create: true, chunkSize: CS });
    const { result } = await storeLayer(repo, f);
    const named = result.manifest.entries.flatMap((e, i) => ("id" in e ? [[i, e.id] as const] : []));
    expect(named.map(([i, id]) => id === sha256(f.bytes.subarray(i * CS, (i + 1) * CS)))).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect((await chunkFiles(plainDir)).map((p) => path.basename(p)).sort()).toEqual([...plainIds].sort());
  });

  it("refuses to open without the key, with a wrong key, or with a key for an unencrypted repository", async () => {
    const dir = await tempDir();
    await writeMarkedRepository(dir, randomBytes(32));
    await expect(openRepository(dir)).rejects.toThrow(
      /is encrypted: its key is needed \(LIFEBOAT_REPOSITORY_KEY\)/,
    );
    await expect(openRepository(dir, { key: randomBytes(32) })).rejects.toThrow(RepositoryKeyError);
    await expect(openRepository(dir, { key: randomBytes(32) })).rejects.toThrow(/not the key of repository/);
    await expect(openRepository(dir, { key: randomBytes(16) })).rejects.toThrow(/32 bytes/);

    const plain = await tempDir();
    await openRepository(plain, { create: true });
    await expect(openRepository(plain, { key: randomBytes(32) })).rejects.toThrow(
      /not encrypted, but a key was given/,
    );
  });

  it("detects a flipped byte in an encrypted chunk and a chunk moved to another name", async () => {
    const dir = await tempDir();
    const key = randomBytes(32);
    const { repo, l } = await writeMarkedRepository(dir, key);
    const m = await repo.readLayerManifest(l.layerId);
    const [a, b] = m.entries.flatMap((e) => ("id" in e ? [e.id] : []));
    if (!a || !b) throw new Error("fixture has two chunks");
    const fa = chunkPath(dir, a);
    const bytes = await fs.readFile(fa);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100] ?? 0) ^ 1;
    await fs.writeFile(fa, bytes);
    // b replaced by a copy of the (intact) c: decrypts under its own name only
    const c = m.entries.flatMap((e) => ("id" in e ? [e.id] : []))[2] ?? "";
    await fs.copyFile(chunkPath(dir, c), chunkPath(dir, b));
    const report = await repo.verify();
    expect(report.ok).toBe(false);
    expect(report.badChunks.map((x) => [x.chunkId, x.problem])).toEqual(
      [
        [a, "corrupt"],
        [b, "corrupt"],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    expect(report.badChunks.every((x) => /fails authentication/.test(x.detail))).toBe(true);
    expect(report.badRestorePoints.map((p) => p.id)).toEqual(["rp-1"]);
  });
});
