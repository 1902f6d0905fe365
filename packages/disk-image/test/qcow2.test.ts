import { copyFile, open, readFile, stat, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bufferSource,
  type ChainExtent,
  checkSafeOffset,
  convertChainToRaw,
  detectImageFormat,
  ImageChain,
  openFileSource,
  parseQcow2Header,
  Qcow2Error,
  Qcow2Image,
  qemuInfo,
  readQcow2Header,
  rewriteBackingFile,
  SourceRangeError,
} from "../src";
import {
  type BuiltChain,
  buildChain,
  type ChainSpec,
  type QemuMapEntry,
  qemuConvertRaw,
  qemuImg,
  qemuInfoJson,
  qemuMap,
  qemuSupportsZstd,
  sha256File,
  tempDir,
  writeMixedRaw,
} from "./fixtures-qcow2";

let root: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  root = await tempDir();
}, 120_000);
afterAll(async () => {
  await root.cleanup();
});

async function openChain(c: BuiltChain): Promise<ImageChain> {
  return ImageChain.open(
    await Promise.all(c.paths.map(async (p) => ({ src: await openFileSource(p), name: p }))),
  );
}

/** A chain whose base is a compressed image made by `qemu-img convert -c`. */
async function compressedChain(dir: string, opts: string[], clusterSize: number): Promise<BuiltChain> {
  const raw = path.join(dir, "source.raw");
  await writeMixedRaw(raw, 3 * 1024 * 1024 + 7 * 512);
  const base = "0d3c0b9e-5c1f-4b6e-9d70-3a4b5c6d7e8f";
  await qemuImg(
    ["convert", "-c", "-O", "qcow2", "-o", [`cluster_size=${clusterSize}`, ...opts].join(","), raw, base],
    dir,
  );
  const top = "7a1e2f30-4b5c-4d6e-8f90-a1b2c3d4e5f6";
  await qemuImg(["create", "-f", "qcow2", "-b", base, "-F", "qcow2", top], dir);
  await qemuImg(["rebase", "-u", "-b", base, "-F", "qcow2", top], dir);
  const { qemuIo } = await import("./fixtures-qcow2");
  await qemuIo(path.join(dir, top), ["write -P 0x5a 100k 20k", "write -z 1M 64k"]);
  const names = [base, top];
  const paths = names.map((n) => path.join(dir, n));
  return { dir, names, paths, top: paths[1]! };
}

type Fixture = { name: string; build: (dir: string) => Promise<BuiltChain> };
const chainFixture = (name: string, spec: ChainSpec): Fixture => ({
  name,
  build: (dir) => buildChain(dir, spec),
});

const fixtures: Fixture[] = [
  chainFixture("v3, 64 KiB clusters, 3 layers", {
    size: "8M",
    layers: [
      { io: ["write -P 0x11 0 3M", "write -P 0x12 5M 100k"] },
      { io: ["write -P 0x21 1M 1M", "write -z 2M 512k", "write -P 0x22 7M 64k"] },
      { io: ["write -P 0x31 1536k 4k", "write -z 0 64k", "write -P 0x32 6M 300k"] },
    ],
  }),
  chainFixture("v2, 4 KiB clusters, 3 layers", {
    size: "4M",
    compat: "0.10",
    clusterSize: 4096,
    layers: [
      { io: ["write -P 0x11 0 1M", "write -P 0x12 3M 10k"] },
      { io: ["write -P 0x21 512k 1M", "write -z 100k 8k"] },
      { io: ["write -P 0x31 2M 5k", "write -P 0x32 3M 4k"] },
    ],
  }),
  chainFixture("v3, 512 B clusters, 3 layers", {
    size: "2M",
    clusterSize: 512,
    layers: [
      { io: ["write -P 0x11 0 300k", "write -P 0x12 1M 1k"] },
      { io: ["write -P 0x21 100k 200k", "write -z 150k 3k"] },
      { io: ["write -P 0x31 1023k 2k", "write -z 0 512"] },
    ],
  }),
  chainFixture("v3, 2 MiB clusters, 2 layers", {
    size: "16M",
    clusterSize: 2 * 1024 * 1024,
    layers: [
      { io: ["write -P 0x11 0 5M", "write -P 0x12 13M 1k"] },
      { io: ["write -P 0x21 3M 3M", "write -z 8M 2M"] },
    ],
  }),
  chainFixture("raw base under larger qcow2 layers", {
    size: "4M",
    rawBase: {
      bytes: 3 * 1024 * 1024 + 512,
      fill: (b) => {
        for (let i = 0; i < b.length; i += 4096) b.fill(i / 4096 + 1, i, Math.min(i + 1000, b.length));
      },
    },
    layers: [{ io: ["write -P 0x21 64k 64k", "write -z 1M 128k"] }, { io: ["write -P 0x31 3M 1M"] }],
  }),
  chainFixture("extended L2 (subclusters)", {
    size: "4M",
    extendedL2: true,
    layers: [
      { io: ["write -P 0x41 0 1M", "write -P 0x42 2M 6k"] },
      { io: ["write -P 0x43 4k 4k", "write -z 40k 8k", "write -P 0x44 2050k 2k"] },
    ],
  }),
  chainFixture("middle layer smaller than base and top", {
    size: "8M",
    layers: [
      { io: ["write -P 0x11 0 8M"] },
      { size: "4M", io: ["write -P 0x21 1M 64k"] },
      { size: "8M", io: ["write -P 0x31 6M 64k"] },
    ],
  }),
  {
    name: "v3 with persistent dirty bitmaps (oVirt checkpoints)",
    build: async (dir) => {
      const c = await buildChain(dir, {
        size: "4M",
        layers: [{ io: ["write -P 0x11 0 1M"] }, { io: ["write -P 0x22 512k 1M"] }],
      });
      await qemuImg(["bitmap", "--add", c.paths[0]!, "checkpoint-1"], dir);
      await qemuImg(["bitmap", "--add", "-g", "131072", c.top, "checkpoint-2"], dir);
      await qemuImg(["bitmap", "--add", c.top, "disabled-one"], dir);
      await qemuImg(["bitmap", "--disable", c.top, "disabled-one"], dir);
      return c;
    },
  },
  { name: "deflate-compressed base, 64 KiB clusters", build: (dir) => compressedChain(dir, [], 65536) },
  {
    name: "deflate-compressed base, v2, 4 KiB clusters",
    build: (dir) => compressedChain(dir, ["compat=0.10"], 4096),
  },
  { name: "deflate-compressed base, 512 B clusters", build: (dir) => compressedChain(dir, [], 512) },
  {
    name: "deflate-compressed base, 2 MiB clusters",
    build: (dir) => compressedChain(dir, [], 2 * 1024 * 1024),
  },
];
if (qemuSupportsZstd())
  fixtures.push(
    {
      name: "zstd-compressed base, 64 KiB clusters",
      build: (dir) => compressedChain(dir, ["compression_type=zstd"], 65536),
    },
    {
      name: "zstd-compressed base, 2 MiB clusters",
      build: (dir) => compressedChain(dir, ["compression_type=zstd"], 2 * 1024 * 1024),
    },
  );

/** Splits [0, size) into merged runs of f(entry). */
function runsOf<T>(entries: Array<{ start: number; length: number } & T>, f: (e: T) => string) {
  const out: Array<{ start: number; end: number; v: string }> = [];
  for (const e of entries) {
    const v = f(e);
    const last = out[out.length - 1];
    if (last && last.v === v && last.end === e.start) last.end = e.start + e.length;
    else out.push({ start: e.start, end: e.start + e.length, v });
  }
  return out;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe.each(fixtures)("qcow2 fixture: $name", { timeout: 60_000 }, ({ build }) => {
  let c: BuiltChain;
  let refRaw: string;
  let ref: Buffer;
  beforeAll(async () => {
    const dir = path.join(root.dir, Math.random().toString(36).slice(2));
    await (await import("node:fs/promises")).mkdir(dir);
    c = await build(dir);
    refRaw = path.join(dir, "reference.raw");
    await qemuConvertRaw(c.top, refRaw);
    ref = await readFile(refRaw);
  }, 120_000);

  it("qemuInfo of every layer equals qemu-img info --output=json", async () => {
    for (const p of c.paths) {
      const expected = await qemuInfoJson(path.basename(p), c.dir);
      delete expected["actual-size"];
      const src = await openFileSource(p);
      try {
        expect(await qemuInfo(src, { filename: path.basename(p) })).toEqual(expected);
      } finally {
        await src.close();
      }
    }
  });

  it("convertChainToRaw equals qemu-img convert -O raw byte for byte, and stays sparse", async () => {
    const chain = await openChain(c);
    const out = path.join(c.dir, "ours.raw");
    try {
      const result = await convertChainToRaw(chain, out);
      expect(result.virtualSize).toBe(ref.length);
      expect(await sha256File(out)).toBe(await sha256File(refRaw));
      // Only non-zero 4 KiB blocks are written: allocation never exceeds the non-zero data (plus fs rounding).
      let nonZeroBlocks = 0;
      for (let i = 0; i < ref.length; i += 4096)
        if (ref.subarray(i, i + 4096).some((b) => b !== 0)) nonZeroBlocks++;
      expect(Number((await stat(out)).blocks) * 512).toBeLessThanOrEqual(nonZeroBlocks * 4096 + 64 * 1024);
    } finally {
      await chain.close();
    }
  });

  it("readGuest returns the reference bytes at unaligned offsets, and short reads only past the end", async () => {
    const chain = await openChain(c);
    try {
      let seed = 7;
      const rnd = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % n;
      };
      for (let i = 0; i < 40; i++) {
        const off = rnd(ref.length);
        const len = 1 + rnd(300_000);
        const got = await chain.readGuest(off, len);
        expect(got.equals(ref.subarray(off, off + len))).toBe(true);
      }
      expect((await chain.readGuest(ref.length - 10, 100)).length).toBe(10);
      expect((await chain.readGuest(ref.length + 5, 100)).length).toBe(0);
    } finally {
      await chain.close();
    }
  });

  it("extents agree with qemu-img map (hole = present nowhere, zero = zero without data) and zero ranges read as zeroes", async () => {
    const chain = await openChain(c);
    try {
      const ours = await collect(chain.extents());
      const theirs = await qemuMap(c.top);
      expect(runsOf<ChainExtent>(ours, (e) => String(e.hole))).toEqual(
        runsOf<QemuMapEntry>(theirs, (e) => String(!e.present)),
      );
      expect(runsOf<ChainExtent>(ours, (e) => String(e.zero))).toEqual(
        runsOf<QemuMapEntry>(theirs, (e) => String(e.zero && !e.data)),
      );
      expect(ours.reduce((s, e) => s + e.length, 0)).toBe(chain.virtualSize);
      for (const e of ours)
        if (e.zero) expect(ref.subarray(e.start, e.start + e.length).every((b) => b === 0)).toBe(true);
    } finally {
      await chain.close();
    }
  });

  it("mapAllocation of each qcow2 layer alone matches qemu-img map with the backing cut off", async () => {
    const chain = await openChain(c);
    try {
      for (const layer of chain.layers) {
        if (!(layer instanceof Qcow2Image)) continue;
        const ours = await collect(layer.mapAllocation());
        const theirs = await qemuMap(layer.name, true);
        const kind = (e: QemuMapEntry) => (e.data ? "data" : e.present ? "zero" : "unallocated");
        // qemu reports reads-as-zero data clusters of a sparse host file as zero+data; both are "data" here.
        expect(runsOf(ours, (e) => e.kind)).toEqual(runsOf(theirs, kind));
      }
    } finally {
      await chain.close();
    }
  });
});

describe("qcow2 header", { timeout: 60_000 }, () => {
  let dir: string;
  let base: string;
  let top: string;
  beforeAll(async () => {
    dir = path.join(root.dir, "hostile");
    await (await import("node:fs/promises")).mkdir(dir);
    const c = await buildChain(dir, {
      size: "4M",
      layers: [{ io: ["write -P 0x11 0 1M"] }, { io: ["write -P 0x22 64k 64k"] }],
    });
    base = c.paths[0]!;
    top = c.paths[1]!;
  }, 120_000);

  it("reads version, cluster size, virtual size, backing name and backing format", async () => {
    const src = await openFileSource(top);
    try {
      const h = await readQcow2Header(src, "top");
      expect(h).toMatchObject({ version: 3, compat: "1.1", clusterSize: 65536, size: 4 * 1024 * 1024 });
      expect(h.backingFile).toBe(path.basename(base));
      expect(h.backingFormat).toBe("qcow2");
      expect(h.featureNames.map((f) => f.name)).toContain("dirty bit");
      expect(await detectImageFormat(src)).toBe("qcow2");
      expect(await detectImageFormat(bufferSource(Buffer.from("hello world")))).toBe("raw");
    } finally {
      await src.close();
    }
  });

  /** Copies `base`, applies byte patches, and returns the error of opening and reading it all. */
  async function corruptError(
    name: string,
    patch: (b: Buffer) => Buffer,
    from = base,
  ): Promise<Qcow2Error | Error | null> {
    const file = path.join(dir, name);
    await writeFile(file, patch(Buffer.from(await readFile(from))));
    const src = await openFileSource(file);
    try {
      const img = await Qcow2Image.open(src, name);
      for (let off = 0; off < img.virtualSize; off += 1024 * 1024) await img.readGuest(off, 1024 * 1024);
      await collect(img.mapAllocation());
      return null;
    } catch (e) {
      return e as Error;
    } finally {
      await src.close();
    }
  }

  const u32 = (at: number, v: number) => (b: Buffer) => {
    b.writeUInt32BE(v >>> 0, at);
    return b;
  };
  const u64 = (at: number, v: bigint) => (b: Buffer) => {
    b.writeBigUInt64BE(v, at);
    return b;
  };

  it.each([
    ["bad-magic", "magic", u32(0, 0x12345678)],
    ["version-4", "version", u32(4, 4)],
    ["cluster-bits-8", "cluster_bits", u32(20, 8)],
    ["cluster-bits-22", "cluster_bits", u32(20, 22)],
    ["cluster-bits-huge", "cluster_bits", u32(20, 0xffffffff)],
    ["l1-size-huge", "l1_size", u32(36, 0xffffffff)],
    ["l1-size-too-small", "l1_size", u32(36, 0)],
    ["size-beyond-2^53", "size", u64(24, 1n << 60n)],
    ["l1-offset-past-eof", "l1_table_offset", u64(40, 1n << 40n)],
    ["l1-offset-unaligned", "l1_table_offset", u64(40, 65536n + 8n)],
    ["crypt-aes", "crypt_method", u32(32, 1)],
    ["crypt-luks-method", "crypt_method", u32(32, 2)],
    ["unknown-incompatible-bit", "incompatible_features", u64(72, 1n << 10n)],
    ["external-data-file-bit", "external data file", u64(72, 1n << 2n)],
    ["header-length-short", "header_length", u32(100, 64)],
    ["refcount-order-7", "refcount_order", u32(96, 7)],
    ["compression-type-unknown", "compression_type", (b: Buffer) => b.fill(7, 104, 105)],
  ])("refuses %s with a Qcow2Error naming the file and %s", async (name, field, patch) => {
    const e = await corruptError(name, patch);
    expect(e).toBeInstanceOf(Qcow2Error);
    expect(e?.message).toContain(name);
    expect((e as Qcow2Error).field).toContain(field);
  });

  it("refuses backing names over 1023 bytes and names that leave the first cluster", async () => {
    const long = await corruptError("backing-too-long", u32(16, 2000), top);
    expect(long).toBeInstanceOf(Qcow2Error);
    expect(long?.message).toMatch(/backing-too-long: qcow2 backing_file_size: 2000/);
    const outside = await corruptError("backing-outside", u64(8, 65530n), top);
    expect((outside as Qcow2Error).field).toBe("backing_file_offset");
  });

  it("refuses L2 tables and data clusters past the end of the file, and unaligned L2 offsets", async () => {
    const src = await openFileSource(base);
    const h = await readQcow2Header(src);
    const l1 = await src.read(h.l1TableOffset, 8);
    const l2Offset = Number(l1.readBigUInt64BE(0) & 0x00fffffffffffe00n);
    await src.close();
    const l2Past = await corruptError("l2-past-eof", u64(h.l1TableOffset, (1n << 63n) | (1n << 40n)));
    expect(l2Past?.message).toMatch(/l2-past-eof: qcow2 L1 entry 0: L2 table at \d+ runs past the end/);
    const l2Unaligned = await corruptError("l2-unaligned", u64(h.l1TableOffset, BigInt(l2Offset + 512)));
    expect(l2Unaligned?.message).toMatch(/not aligned/);
    const dataPast = await corruptError("data-past-eof", u64(l2Offset, (1n << 63n) | (1n << 40n)));
    expect(dataPast?.message).toMatch(
      /data-past-eof: qcow2 L2 entry for guest offset 0: cluster offset \d+ is past the end/,
    );
    const badCompressed = await corruptError("bad-compressed", u64(l2Offset, (1n << 62n) | 512n));
    expect(badCompressed?.message).toMatch(
      /bad-compressed: qcow2 compressed cluster for guest offset 0: deflate data/,
    );
  });

  it("refuses truncated files: inside the header, before the L1 table, inside an L2 table", async () => {
    for (const [name, length] of [
      ["trunc-50", 50],
      ["trunc-100", 100],
      ["trunc-l1", 3 * 65536 + 16],
    ] as const) {
      const file = path.join(dir, name);
      await copyFile(base, file);
      await truncate(file, length);
      const src = await openFileSource(file);
      await expect(
        (async () => {
          const img = await Qcow2Image.open(src, name);
          await img.readGuest(0, 4096);
        })(),
      ).rejects.toThrow(new RegExp(`${name}: qcow2 `));
      await src.close();
    }
  });

  it("refuses AES- and LUKS-encrypted and external-data-file images made by qemu-img", async () => {
    const encrypted = async (format: string, file: string, extra: string) => {
      const args = ["create", "--object", "secret,id=sec0,data=lifeboat", "-f", "qcow2"];
      args.push("-o", `encrypt.format=${format},encrypt.key-secret=sec0${extra}`, file, "1M");
      // LUKS key derivation times itself on the CPU clock, which can read zero in a busy container: retry.
      for (let attempt = 1; ; attempt++) {
        try {
          return await qemuImg(args, dir);
        } catch (e) {
          if (attempt === 5) throw e;
        }
      }
    };
    await encrypted("aes", "aes.qcow2", "");
    await encrypted("luks", "luks.qcow2", ",encrypt.iter-time=10");
    await qemuImg(["create", "-f", "qcow2", "-o", "data_file=ext.raw", "ext.qcow2", "1M"], dir);
    for (const [file, field] of [
      ["aes.qcow2", "crypt_method"],
      ["luks.qcow2", "crypt_method"],
      ["ext.qcow2", "external data file"],
    ] as const) {
      const src = await openFileSource(path.join(dir, file));
      const e = await Qcow2Image.open(src, file).catch((x: Error) => x);
      await src.close();
      expect(e).toBeInstanceOf(Qcow2Error);
      expect((e as Qcow2Error).field).toBe(field);
      expect((e as Error).message).toContain(file);
    }
  });

  it("ImageChain refuses a base that names a backing file, a raw layer on top, and a format mismatch", async () => {
    const s = async (p: string) => ({ src: await openFileSource(p), name: path.basename(p) });
    await expect(ImageChain.open([await s(top)])).rejects.toThrow(
      /names ".*" but no layer below it was given/,
    );
    const raw = path.join(dir, "plain.raw");
    await writeFile(raw, Buffer.alloc(4096, 1));
    await expect(ImageChain.open([await s(base), await s(raw)])).rejects.toThrow(
      /raw image, so it cannot sit on top/,
    );
    await expect(ImageChain.open([await s(raw), await s(top)])).rejects.toThrow(
      /backing format: is qcow2 but its backing layer plain.raw is raw/,
    );
  });
});

describe("rewriteBackingFile", { timeout: 60_000 }, () => {
  let dir: string;
  let c: BuiltChain;
  beforeAll(async () => {
    dir = path.join(root.dir, "rebase");
    await (await import("node:fs/promises")).mkdir(dir);
    c = await buildChain(dir, {
      size: "2M",
      layers: [{ io: ["write -P 0x11 0 1M"] }, { io: ["write -P 0x22 512k 64k"] }],
    });
  }, 120_000);

  async function rewriteFile(file: string, newName: string): Promise<void> {
    const fh = await open(file, "r+");
    try {
      const first = Buffer.alloc(65536);
      await fh.read(first, 0, first.length, 0);
      await fh.write(rewriteBackingFile(first, newName, path.basename(file)), 0, first.length, 0);
    } finally {
      await fh.close();
    }
  }

  it("renames the parent UUID in place: qemu-img follows the new name and reads the same guest data", async () => {
    const before = path.join(dir, "before.raw");
    await qemuConvertRaw(c.top, before);
    const newBase = "11111111-2222-4333-8444-555555555555";
    await copyFile(c.paths[0]!, path.join(dir, newBase));
    const copy = path.join(dir, "renamed-top");
    await copyFile(c.top, copy);
    await rewriteFile(copy, newBase);
    const info = await qemuInfoJson(copy);
    expect(info["backing-filename"]).toBe(newBase);
    expect(info["backing-filename-format"]).toBe("qcow2");
    await qemuImg(["check", copy]);
    const after = path.join(dir, "after.raw");
    await qemuConvertRaw(copy, after);
    expect(await sha256File(after)).toBe(await sha256File(before));
  });

  it("accepts shorter names and longer ones that fit in zeroed header space; refuses the rest", async () => {
    const first = (await readFile(c.top)).subarray(0, 65536);
    const shorter = rewriteBackingFile(first, "short");
    expect(parseQcow2Header(shorter)).toMatchObject({ backingFile: "short", backingFileSize: 5 });
    const longer = `${c.names[0]}-and-more`;
    expect(parseQcow2Header(rewriteBackingFile(first, longer)).backingFile).toBe(longer);
    expect(() => rewriteBackingFile(first, "x".repeat(1024))).toThrow(Qcow2Error);
    const baseFirst = (await readFile(c.paths[0]!)).subarray(0, 65536);
    expect(() => rewriteBackingFile(baseFirst, "x", "base")).toThrow(
      /base: qcow2 backing_file_offset: image has no backing file/,
    );
    // A name that would run out of the first cluster cannot be written in place.
    const cramped = Buffer.from(first.subarray(0, 65536));
    cramped.writeBigUInt64BE(65536n - 40n, 8);
    cramped.write(c.names[0]!, 65536 - 40);
    expect(() => rewriteBackingFile(cramped, `${c.names[0]}-longer-name`)).toThrow(/does not fit/);
  });
});

describe("random-access sources", () => {
  it("file sources give short reads past the end and refuse unsafe ranges", async () => {
    const file = path.join(root.dir, "src.bin");
    await writeFile(file, Buffer.from("0123456789"));
    const src = await openFileSource(file);
    try {
      expect(src.size).toBe(10);
      expect((await src.read(8, 10)).toString()).toBe("89");
      expect((await src.read(10, 5)).length).toBe(0);
      await expect(src.read(-1, 2)).rejects.toThrow(/read position/);
      await expect(src.read(2 ** 60, 2)).rejects.toThrow(/read position/);
      expect(checkSafeOffset(2n ** 52n, "size")).toBe(2 ** 52);
      expect(() => checkSafeOffset(2n ** 60n, "Content-Length")).toThrow(SourceRangeError);
      expect(() => checkSafeOffset(2n ** 60n, "Content-Length")).toThrow(
        /Content-Length 1152921504606846976 is beyond/,
      );
    } finally {
      await src.close();
    }
  });
});
