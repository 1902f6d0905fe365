import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { openRepository, type RepositoryBackend, RepositoryKeyError } from "../src";
import { KEYS } from "../src/store";
import { BACKENDS, chunkKeys, damage } from "./backends";
import { CS, collect, compressible, fixture, pointInput, sha256, storeLayer } from "./helpers";

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

async function objectsContaining(backend: RepositoryBackend, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for await (const { key } of backend.list(""))
    if ((await backend.get(key)).includes(Buffer.from(needle, "latin1"))) hits.push(key);
  return hits;
}

const idOf = (key: string) => key.split("/").at(-1);

async function writeMarkedRepository(backend: RepositoryBackend, key?: Buffer) {
  const repo = await openRepository(backend, { create: true, chunkSize: CS, key });
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

describe.each(BACKENDS)("encrypted repository ($name)", (B) => {
  it("leaves no plaintext in any file (the same data unencrypted does)", async () => {
    const plainBackend = await B.fresh();
    await writeMarkedRepository(plainBackend);
    const plainHits = await objectsContaining(plainBackend, MARKER);
    // control: without encryption the marker is visible in raw chunks (and unencrypted manifests)
    expect(plainHits.some((k) => k.startsWith("chunks/"))).toBe(true);

    const backend = await B.fresh();
    const key = randomBytes(32);
    const { f, l } = await writeMarkedRepository(backend, key);
    expect(await objectsContaining(backend, MARKER)).toEqual([]);
    const repo = await openRepository(backend, { key });
    expect(repo.encrypted).toBe(true);
    expect((await collect(await repo.readLayer(l.layerId))).equals(f.bytes)).toBe(true);
    expect((await repo.readRestorePoint("rp-1")).description).toBe(MARKER);
    expect((await repo.verify()).ok).toBe(true);
  });

  it("names chunks by a keyed hash, not the SHA-256 of their content", async () => {
    const backend = await B.fresh();
    const key = randomBytes(32);
    const { f } = await writeMarkedRepository(backend, key);
    const ids = (await chunkKeys(backend)).map(idOf);
    expect(ids).toHaveLength(4); // chunks 0, 1, 3 and the partial 4; chunk 2 is a hole
    const plainIds = [0, 1, 3, 4].map((i) => sha256(f.bytes.subarray(i * CS, (i + 1) * CS)));
    for (const id of plainIds) expect(ids).not.toContain(id);

    // without encryption the very same layer's chunks are named by the SHA-256 of their content
    const plainBackend = await B.fresh();
    const repo = await openRepository(plainBackend, { create: true, chunkSize: CS });
    const { result } = await storeLayer(repo, f);
    const named = result.manifest.entries.flatMap((e, i) => ("id" in e ? [[i, e.id] as const] : []));
    expect(named.map(([i, id]) => id === sha256(f.bytes.subarray(i * CS, (i + 1) * CS)))).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect((await chunkKeys(plainBackend)).map(idOf).sort()).toEqual([...plainIds].sort());
  });

  it("refuses to open without the key, with a wrong key, or with a key for an unencrypted repository", async () => {
    const backend = await B.fresh();
    await writeMarkedRepository(backend, randomBytes(32));
    await expect(openRepository(backend)).rejects.toThrow(
      /is encrypted: its key is needed \(LIFEBOAT_REPOSITORY_KEY\)/,
    );
    await expect(openRepository(backend, { key: randomBytes(32) })).rejects.toThrow(RepositoryKeyError);
    await expect(openRepository(backend, { key: randomBytes(32) })).rejects.toThrow(
      /not the key of repository/,
    );
    await expect(openRepository(backend, { key: randomBytes(16) })).rejects.toThrow(/32 bytes/);

    const plain = await B.fresh();
    await openRepository(plain, { create: true });
    await expect(openRepository(plain, { key: randomBytes(32) })).rejects.toThrow(
      /not encrypted, but a key was given/,
    );
  });

  it("detects a flipped byte in an encrypted chunk and a chunk moved to another name", async () => {
    const backend = await B.fresh();
    const key = randomBytes(32);
    const { repo, l } = await writeMarkedRepository(backend, key);
    const m = await repo.readLayerManifest(l.layerId);
    const [a, b] = m.entries.flatMap((e) => ("id" in e ? [e.id] : []));
    if (!a || !b) throw new Error("fixture has two chunks");
    await damage(backend, KEYS.chunk(a), (bytes) => {
      bytes[bytes.length - 100] = (bytes[bytes.length - 100] ?? 0) ^ 1;
      return bytes;
    });
    // b replaced by a copy of the (intact) c: decrypts under its own name only
    const c = m.entries.flatMap((e) => ("id" in e ? [e.id] : []))[2] ?? "";
    await backend.put(KEYS.chunk(b), await backend.get(KEYS.chunk(c)));
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
