import { execFile } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { openRepository } from "../src";
import { BACKENDS } from "./backends";
import { CS, mixedFixture, storeLayer, tempDir } from "./helpers";

const run = promisify(execFile);

describe.each(BACKENDS)("openLayerSource ($name)", (B) => {
  it("reads random ranges across chunk boundaries, holes and the end exactly as the source", async () => {
    const repo = await openRepository(await B.fresh(), { create: true, chunkSize: CS });
    const f = mixedFixture();
    const { layerId } = await storeLayer(repo, f);
    const src = await repo.openLayerSource(layerId, { cacheChunks: 2 });
    expect(src.size).toBe(f.bytes.length);
    const cases: [number, number][] = [
      [0, 0],
      [CS - 1, 2],
      [CS - 100, CS + 200], // three chunks
      [2 * CS - 1, 3 * CS + 2], // through the holes
      [f.bytes.length - 10, 100], // past the end: short read
      [f.bytes.length, 10],
      [f.bytes.length + 5000, 10],
    ];
    for (let i = 0; i < 200; i++) cases.push([randomInt(f.bytes.length), randomInt(3 * CS)]);
    // concurrent reads share the cache and in-flight chunk reads
    const results = await Promise.all(cases.map(([p, l]) => src.read(p, l)));
    for (const [i, [p, l]] of cases.entries())
      expect(
        results[i]?.equals(f.bytes.subarray(Math.min(p, f.bytes.length), Math.min(p + l, f.bytes.length))),
      ).toBe(true);
    await expect(src.read(-1, 5)).rejects.toThrow(/not a safe byte offset/);
    await src.close();
    await expect(src.read(0, 1)).rejects.toThrow(/closed/);
  });

  it("serves a real qcow2 chain stored in the repository: header, backing name and clusters", async () => {
    const work = await tempDir("lifeboat-qcow2-");
    const raw = path.join(work, "data.raw");
    // 4 MiB guest: data at a few places, the rest unallocated
    const guest = Buffer.alloc(4 * 1024 * 1024);
    randomBytes(300_000).copy(guest, 100_000);
    randomBytes(70_000).copy(guest, 3 * 1024 * 1024 + 12_345);
    await fs.writeFile(raw, guest);
    const base = path.join(work, "base.qcow2");
    const top = path.join(work, "top.qcow2");
    await run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, base]);
    await run("qemu-img", ["create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top]);
    await run("qemu-io", ["-f", "qcow2", "-c", "write -P 0xab 1M 128k", top]);

    const repo = await openRepository(await B.fresh(), { create: true, chunkSize: CS });
    for (const [file, imageId] of [
      [base, "img-base"],
      [top, "img-top"],
    ] as const) {
      const bytes = await fs.readFile(file);
      const r = await repo.writeLayer(createReadStream(file, { highWaterMark: 50_000 }), {
        imageId,
        format: "cow",
      });
      const src = await repo.openLayerSource(r.layerId);
      expect(src.size).toBe(bytes.length);
      const header = await src.read(0, 104);
      expect(header.subarray(0, 4).toString("latin1")).toBe("QFI\xfb");
      expect(header.equals(bytes.subarray(0, 104))).toBe(true);
      const backingOffset = Number(header.readBigUInt64BE(8));
      const backingSize = header.readUInt32BE(16);
      const backing = (await src.read(backingOffset, backingSize)).toString();
      expect(backing).toBe(imageId === "img-top" ? "base.qcow2" : "");
      // L1 table and the clusters it points to
      const l1Offset = Number(header.readBigUInt64BE(40));
      const l1 = await src.read(l1Offset, 8 * header.readUInt32BE(36));
      expect(l1.equals(bytes.subarray(l1Offset, l1Offset + l1.length))).toBe(true);
      for (let i = 0; i < 50; i++) {
        const p = randomInt(bytes.length);
        const l = randomInt(2 * CS);
        expect((await src.read(p, l)).equals(bytes.subarray(p, p + l))).toBe(true);
      }
      await src.close();
    }
  });
});
