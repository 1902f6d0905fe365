import { randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm, truncate, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseQcow2Header, Qcow2Error, Qcow2Volume } from "@lifeboat/disk-image";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openVolumeChain, type VolumeLayer } from "../src/volumes/chain";
import { openGuestView } from "../src/volumes/guest-view";
import { qemuCheck, qemuGuestBytes, qemuImg, qemuInfo, qemuMap } from "./support/qemu";

const MiB = 1024 * 1024;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "sim-volumes-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function uuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

async function expectClean(file: string): Promise<void> {
  const c = await qemuCheck(file);
  expect(c["check-errors"]).toBe(0);
  expect(c.corruptions ?? 0).toBe(0);
  expect(c.leaks ?? 0).toBe(0);
}

async function expectGuest(file: string, model: Buffer): Promise<void> {
  const out = path.join(dir, `guest-${Math.random().toString(16).slice(2)}`);
  await qemuGuestBytes(file, out);
  const got = await readFile(out);
  await rm(out);
  expect(got.length).toBe(model.length);
  // Compare in blocks so that a failure names the first differing offset instead of dumping buffers.
  for (let o = 0; o < model.length; o += 65536) {
    if (!got.subarray(o, o + 65536).equals(model.subarray(o, o + 65536))) {
      throw new Error(`guest data differs in the 64 KiB block at offset ${o}`);
    }
  }
}

/** Applies random writes and zero ranges both to the image and to an in-memory model of the guest. */
async function scribble(layers: VolumeLayer[], model: Buffer, ops: number, seed: number): Promise<void> {
  let s = seed;
  const rnd = (n: number) => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s % n;
  };
  const chain = await openVolumeChain(layers, { writable: true });
  try {
    for (let i = 0; i < ops; i++) {
      const len = 1 + rnd(300_000);
      const off = rnd(model.length - len);
      if (rnd(4) === 0) {
        await chain.zero(off, len);
        model.fill(0, off, off + len);
      } else {
        const data = randomBytes(len);
        await chain.write(off, data);
        data.copy(model, off);
      }
    }
    await chain.flush();
  } finally {
    await chain.close();
  }
}

describe("qcow2 writer", () => {
  it("creates an empty qcow2 v3 image that qemu-img accepts", async () => {
    const file = path.join(dir, uuid(1));
    await Qcow2Volume.create(file, { size: 3 * 1024 * MiB });
    const info = await qemuInfo(file);
    expect(info.format).toBe("qcow2");
    expect(info["virtual-size"]).toBe(3 * 1024 * MiB);
    expect(info["format-specific"]?.data.compat).toBe("1.1");
    expect(info["backing-filename"]).toBeUndefined();
    await expectClean(file);
  });

  it("writes aligned and unaligned guest data and zero ranges that qemu reads back", async () => {
    const file = path.join(dir, uuid(2));
    const size = 24 * MiB + 25 * 512; // not a cluster multiple on purpose
    await Qcow2Volume.create(file, { size });
    const model = Buffer.alloc(size);
    await scribble([{ id: uuid(2), path: file, format: "cow" }], model, 60, 7);
    await expectClean(file);
    await expectGuest(file, model);
    // Our own reader agrees with qemu.
    const chain = await openVolumeChain([{ id: uuid(2), path: file, format: "cow" }]);
    expect((await chain.read(0, size)).equals(model)).toBe(true);
    await chain.close();
  });

  it("writes overlays whose backing name is the bare parent UUID, copying partial clusters from below", async () => {
    const base = path.join(dir, uuid(3));
    const mid = path.join(dir, uuid(4));
    const top = path.join(dir, uuid(5));
    const size = 16 * MiB;
    const model = randomBytes(size);
    await writeFile(base, model);
    await Qcow2Volume.create(mid, { size, backingName: uuid(3), backingFormat: "raw" });
    await Qcow2Volume.create(top, { size, backingName: uuid(4), backingFormat: "qcow2" });
    const chain: VolumeLayer[] = [
      { id: uuid(3), path: base, format: "raw" },
      { id: uuid(4), path: mid, format: "cow" },
    ];
    await scribble(chain, model, 40, 11);
    await scribble([...chain, { id: uuid(5), path: top, format: "cow" }], model, 40, 12);
    const info = await qemuInfo(top);
    expect(info["backing-filename"]).toBe(uuid(4));
    expect(info["backing-filename-format"]).toBe("qcow2");
    expect((await qemuInfo(mid))["backing-filename-format"]).toBe("raw");
    await expectClean(mid);
    await expectClean(top);
    await expectGuest(top, model);
  });

  it("keeps refcounts right when the file outgrows its refcount blocks and table (512-byte clusters)", async () => {
    const file = path.join(dir, uuid(6));
    const size = 12 * MiB;
    await Qcow2Volume.create(file, { size, clusterBits: 9 });
    const model = Buffer.alloc(size);
    // 512-byte clusters with 16-bit refcounts: one block covers 128 KiB, one table cluster 8 MiB of file.
    const chain = await openVolumeChain([{ id: uuid(6), path: file, format: "cow" }], { writable: true });
    const data = randomBytes(10 * MiB);
    await chain.write(MiB, data);
    data.copy(model, MiB);
    await chain.close();
    const h = parseQcow2Header(await readFile(file), file);
    expect(h.refcountTableClusters).toBeGreaterThan(1);
    await expectClean(file);
    await expectGuest(file, model);
  });

  it("modifies images made by qemu-img, including compressed clusters", async () => {
    const src = path.join(dir, "src.raw");
    const size = 8 * MiB;
    const model = Buffer.alloc(size);
    randomBytes(2 * MiB).copy(model, 0);
    model.fill("lifeboat ", 4 * MiB, 6 * MiB); // compressible
    await writeFile(src, model);
    const file = path.join(dir, uuid(7));
    await qemuImg("convert", "-c", "-f", "raw", "-O", "qcow2", src, file);
    await scribble([{ id: uuid(7), path: file, format: "cow" }], model, 30, 5);
    await expectClean(file);
    await expectGuest(file, model);
  });

  it("serves extents like qemu-nbd: data, zero and holes of a chain and of a single layer", async () => {
    const base = path.join(dir, uuid(8));
    const top = path.join(dir, uuid(9));
    const size = 8 * MiB;
    await Qcow2Volume.create(base, { size });
    await Qcow2Volume.create(top, { size, backingName: uuid(8) });
    const b = await openVolumeChain([{ id: uuid(8), path: base, format: "cow" }], { writable: true });
    await b.write(0, randomBytes(MiB));
    await b.write(4 * MiB, randomBytes(MiB));
    await b.close();
    const layers: VolumeLayer[] = [
      { id: uuid(8), path: base, format: "cow" },
      { id: uuid(9), path: top, format: "cow" },
    ];
    const t = await openVolumeChain(layers, { writable: true });
    await t.zero(4 * MiB, 512 * 1024); // zero flag over data of the base
    await t.write(6 * MiB, randomBytes(MiB));
    await t.close();

    const full = await openGuestView(layers);
    const ext = await full.extents();
    await full.close();
    expect(ext).toEqual([
      { start: 0, length: MiB, zero: false, hole: false },
      { start: MiB, length: 3 * MiB, zero: true, hole: true },
      { start: 4 * MiB, length: 512 * 1024, zero: true, hole: false },
      { start: 4 * MiB + 512 * 1024, length: 512 * 1024, zero: false, hole: false },
      { start: 5 * MiB, length: MiB, zero: true, hole: true },
      { start: 6 * MiB, length: MiB, zero: false, hole: false },
      { start: 7 * MiB, length: MiB, zero: true, hole: true },
    ]);
    // qemu agrees on which areas hold data.
    const qmap = await qemuMap(top);
    const qdata = qmap.filter((m) => m.data).map((m) => [m.start, m.length]);
    const ours = ext.filter((e) => !e.zero).map((e) => [e.start, e.length]);
    expect(ours).toEqual(qdata);

    const shallow = await openGuestView(layers, { shallow: true });
    const sext = await shallow.extents();
    expect(await shallow.read(0, 16)).toEqual(Buffer.alloc(16));
    await shallow.close();
    expect(sext).toEqual([
      { start: 0, length: 4 * MiB, zero: true, hole: true },
      { start: 4 * MiB, length: 512 * 1024, zero: true, hole: false },
      { start: 4 * MiB + 512 * 1024, length: 1536 * 1024, zero: true, hole: true },
      { start: 6 * MiB, length: MiB, zero: false, hole: false },
      { start: 7 * MiB, length: MiB, zero: true, hole: true },
    ]);
  });

  it("rewrites the backing name in place", async () => {
    const file = path.join(dir, uuid(10));
    await Qcow2Volume.create(file, { size: MiB, backingName: uuid(11), backingFormat: "qcow2" });
    const v = await Qcow2Volume.open(file, { writable: true });
    await v.setBacking(uuid(12), "raw");
    await v.close();
    await writeFile(path.join(dir, uuid(12)), Buffer.alloc(MiB));
    const info = await qemuInfo(file);
    expect(info["backing-filename"]).toBe(uuid(12));
    expect(info["backing-filename-format"]).toBe("raw");
    await expectClean(file);
  });

  it("rejects hostile headers with a clear error", async () => {
    const file = path.join(dir, "hostile");
    await Qcow2Volume.create(file, { size: MiB });
    const good = await readFile(file);
    const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
      ["cluster bits", (b) => b.writeUInt32BE(40, 20), /cluster_bits/],
      ["l1 size", (b) => b.writeUInt32BE(0xffffffff, 36), /l1_size/],
      ["version", (b) => b.writeUInt32BE(9, 4), /version/],
      ["unaligned l1", (b) => b.writeBigUInt64BE(12345n, 40), /not cluster aligned/],
      [
        "backing size",
        (b) => {
          b.writeBigUInt64BE(200n, 8);
          b.writeUInt32BE(5000, 16);
        },
        /backing_file_size/,
      ],
      ["features", (b) => b.writeBigUInt64BE(1n << 40n, 72), /incompatible features/],
    ];
    for (const [, mutate, re] of cases) {
      const b = Buffer.from(good);
      mutate(b);
      await writeFile(file, b);
      await expect(Qcow2Volume.open(file)).rejects.toThrow(re);
    }
    await writeFile(file, Buffer.from("QFI\xfbnot really", "latin1"));
    await expect(Qcow2Volume.open(file)).rejects.toBeInstanceOf(Qcow2Error);
  });

  it("writes and zeroes raw volumes in place without changing their size", async () => {
    const base = path.join(dir, uuid(13));
    await writeFile(base, "");
    await truncate(base, 2 * MiB);
    const chain = await openVolumeChain([{ id: uuid(13), path: base, format: "raw" }], { writable: true });
    await chain.write(MiB - 10, Buffer.from("0123456789abcdefghij"));
    await chain.zero(MiB - 5, 3);
    expect((await chain.read(MiB - 10, 20)).toString("latin1")).toBe("01234\x00\x00\x0089abcdefghij");
    await chain.close();
    const fh = await open(base, "r");
    expect((await fh.stat()).size).toBe(2 * MiB);
    await fh.close();
  });
});
