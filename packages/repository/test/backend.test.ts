import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LocalDirectoryBackend, ObjectNotFoundError, openRepository, RepositoryFullError } from "../src";
import { age, CS, collect, listFiles, smallFilesystem, tempDir } from "./helpers";

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("LocalDirectoryBackend", () => {
  it("puts atomically, gets, stats, lists and deletes by key", async () => {
    const root = await tempDir();
    const b = new LocalDirectoryBackend(root);
    expect(await b.put("a/b/c", [Buffer.from("hello "), Buffer.from("world")])).toBe(true);
    expect((await b.get("a/b/c")).toString()).toBe("hello world");
    expect(await b.has("a/b/c")).toBe(true);
    expect((await b.stat("a/b/c"))?.size).toBe(11);
    expect(await b.put("a/b/c", Buffer.from("again"), { ifAbsent: true })).toBe(false);
    expect((await b.get("a/b/c")).toString()).toBe("hello world");
    await b.put("a/b/c", Buffer.from("replaced"));
    expect((await b.get("a/b/c")).toString()).toBe("replaced");
    await b.put("a/x", Buffer.from("1"));
    // a leftover temp file is never listed or read
    await fs.writeFile(path.join(root, "a", ".x.0123456789ab.tmp"), "partial");
    expect((await all(b.list("a/"))).map((e) => e.key).sort()).toEqual(["a/b/c", "a/x"]);
    expect((await all(b.list("nothing/"))).length).toBe(0);
    await expect(b.get("a/missing")).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(b.get("a/b/c", { maxBytes: 3 })).rejects.toThrow(/8 bytes, more than the 3/);
    expect(await b.delete("a/x")).toBe(true);
    expect(await b.delete("a/x")).toBe(false);
    expect(await b.touch("a/x")).toBeUndefined();
    for (const bad of ["../etc/passwd", ".hidden", "a//b", "a/.tmp", "/abs", "a/../b", ""])
      await expect(b.put(bad, Buffer.from("x"))).rejects.toThrow(/invalid repository object key/);
    // no temp files left behind by the puts
    expect((await listFiles(root)).filter((f) => f.endsWith(".tmp"))).toEqual([
      path.join("a", ".x.0123456789ab.tmp"),
    ]);
  });

  it("deletes conditionally: an object touched after the cutoff stays", async () => {
    const root = await tempDir();
    const b = new LocalDirectoryBackend(root);
    await b.put("chunks/old", Buffer.from("old"));
    await b.put("chunks/used", Buffer.from("used"));
    await age(path.join(root, "chunks", "old"), 3600_000);
    await age(path.join(root, "chunks", "used"), 3600_000);
    const cutoff = Date.now() - 60_000;
    await b.touch("chunks/used"); // a writer deduplicating against it
    expect(await b.deleteIfUnmodifiedSince("chunks/used", cutoff)).toBeUndefined();
    expect(await b.deleteIfUnmodifiedSince("chunks/old", cutoff)).toBe(3);
    expect(await b.deleteIfUnmodifiedSince("chunks/gone", cutoff)).toBeUndefined();
    expect((await all(b.list("chunks/"))).map((e) => e.key)).toEqual(["chunks/used"]);
    expect((await listFiles(root)).filter((f) => f.includes(".trash"))).toEqual([]);
  });

  it("sweeps stale temp files, keeps fresh ones, and puts back objects a crashed delete set aside", async () => {
    const root = await tempDir();
    const b = new LocalDirectoryBackend(root);
    await b.put("chunks/keep", Buffer.from("keep"));
    const dir = path.join(root, "chunks");
    await fs.writeFile(path.join(dir, ".stale.0123456789ab.tmp"), "12345");
    await age(path.join(dir, ".stale.0123456789ab.tmp"), 3600_000);
    await fs.writeFile(path.join(dir, ".fresh.0123456789ab.tmp"), "123");
    // a conditional delete that crashed between its rename and its decision
    await fs.writeFile(path.join(dir, ".victim.aaaaaaaaaaaa.trash"), "victim");
    const swept = await b.sweepIncomplete(Date.now() - 60_000);
    expect(swept).toEqual({ count: 1, bytes: 5 });
    expect(await listFiles(root)).toEqual(
      [
        path.join("chunks", ".fresh.0123456789ab.tmp"),
        path.join("chunks", "keep"),
        path.join("chunks", "victim"),
      ].sort(),
    );
    expect((await b.get("chunks/victim")).toString()).toBe("victim");
  });
});

describe("a full disk", () => {
  it("fails the write with words to act on, keeps no temp file and leaves what was stored intact", async () => {
    const dir = await smallFilesystem(1024 * 1024);
    const repo = await openRepository(path.join(dir, "repo"), { create: true, chunkSize: CS });
    const small = randomBytes(100 * 1024);
    const kept = await repo.writeLayer(Readable.from([small]), { imageId: "fits" });
    // Incompressible and four times the filesystem: it cannot fit.
    const big = randomBytes(4 * 1024 * 1024);
    const err = await repo.writeLayer(Readable.from([big]), { imageId: "too-big" }).catch((e) => e);
    expect(err).toBeInstanceOf(RepositoryFullError);
    expect(err.message).toMatch(/repository at .*lifeboat-full-.* is full .* free space there or run gc/);
    expect((await listFiles(dir)).filter((f) => /\.(tmp|trash)$/.test(f))).toEqual([]);
    // What was stored before still reads back, and nothing of the failed layer counts as a layer.
    expect((await collect(await repo.readLayer(kept.layerId))).equals(small)).toBe(true);
    expect(await repo.findLayers({ imageId: "too-big" })).toEqual([]);
    expect((await repo.verify()).ok).toBe(true);
    // gc frees the chunks the failed write left unreferenced; then the space is there again.
    await repo.gc({ graceMs: 0 });
    const fits = randomBytes(256 * 1024);
    const after = await repo.writeLayer(Readable.from([fits]), { imageId: "after-gc" });
    expect((await collect(await repo.readLayer(after.layerId))).equals(fits)).toBe(true);
  });
});
