// Property tests of the qcow2 reader (fast-check): hostile images never crash, hang or read outside the file;
// valid images read exactly as qemu-img converts them. A failure prints its seed and path: replay them with
// `fc.assert(..., { seed, path })`. CI runs a fixed seed (a red build must replay); elsewhere each run explores.
import { readFile } from "node:fs/promises";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bufferSource,
  convertChainToRaw,
  ImageChain,
  openFileSource,
  Qcow2Error,
  Qcow2Image,
  type RandomAccessSource,
  SourceRangeError,
} from "../src";
import { buildChain, qemuConvertRaw, qemuImg, sha256File, tempDir } from "./fixtures-qcow2";

const seed = process.env.CI ? 20261207 : undefined;

let root: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  root = await tempDir("lifeboat-qcow2-fuzz-");
}, 60_000);
afterAll(async () => {
  await root.cleanup();
});

/** The file's bytes as a source that notes every read starting past the end of the file. */
function guarded(data: Buffer, outside: string[]): RandomAccessSource {
  const inner = bufferSource(data);
  return {
    size: data.length,
    read(position, length) {
      if (length > 0 && position > data.length)
        outside.push(`read(${position}, ${length}) of ${data.length}`);
      return inner.read(position, length);
    },
    close: () => inner.close(),
  };
}

const GUEST_READ_LIMIT = 2 * 1024 * 1024;
const EXTENT_LIMIT = 4096;

/** Opens and reads a (possibly hostile) image: the first 2 MiB of the guest and up to 4096 allocation extents. */
async function readAll(src: RandomAccessSource): Promise<void> {
  const img = await Qcow2Image.open(src, "fuzzed");
  const end = Math.min(img.virtualSize, GUEST_READ_LIMIT);
  for (let off = 0; off < end; off += 256 * 1024) await img.readGuest(off, Math.min(256 * 1024, end - off));
  let n = 0;
  for await (const _ of img.mapAllocation()) if (++n >= EXTENT_LIMIT) break;
}

function withinSeconds<T>(p: Promise<T>, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${seconds} s: a hang`)), seconds * 1000);
  });
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

describe("qcow2 reader on mutated images", { timeout: 120_000 }, () => {
  const images: Array<{ name: string; bytes: Buffer; clusterSize: number }> = [];
  beforeAll(async () => {
    const dir = path.join(root.dir, "mutated");
    await (await import("node:fs/promises")).mkdir(dir);
    const plain = await buildChain(dir, {
      size: "1M",
      clusterSize: 4096,
      layers: [{ io: ["write -P 0x11 0 64k", "write -z 128k 8k", "write -P 0x22 512k 4k"] }],
    });
    const extended = await buildChain(dir, {
      size: "1M",
      clusterSize: 65536,
      extendedL2: true,
      layers: [{ io: ["write -P 0x33 4k 4k", "write -z 64k 32k", "write -P 0x44 900k 8k"] }],
    });
    const raw = path.join(dir, "source.raw");
    await qemuImg(["create", "-f", "raw", raw, "1M"]);
    await (await import("./fixtures-qcow2")).writeMixedRaw(raw, 1024 * 1024);
    const compressed = path.join(dir, "compressed.qcow2");
    await qemuImg(["convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096", raw, compressed]);
    for (const [name, file, clusterSize] of [
      ["plain", plain.top, 4096],
      ["extended-l2", extended.top, 65536],
      ["compressed", compressed, 4096],
    ] as const)
      images.push({ name, bytes: await readFile(file), clusterSize });
  }, 60_000);

  it.each(["plain", "extended-l2", "compressed"])(
    "%s: random byte changes give a Qcow2Error or a good read, never a crash, a hang or a read outside the file",
    async (name) => {
      const image = images.find((i) => i.name === name);
      if (!image) throw new Error(`no image ${name}`);
      // Most changes hit the metadata (header, L1, refcounts, L2: the first clusters); some land anywhere.
      const metadata = Math.min(image.bytes.length, 6 * image.clusterSize);
      const offset = fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 111 }) },
        { weight: 4, arbitrary: fc.integer({ min: 0, max: metadata - 1 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: image.bytes.length - 1 }) },
      );
      const change = fc.record({
        at: offset,
        value: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0xff, 0x80, 0x01)),
      });
      const truncateTo = fc.option(fc.integer({ min: 0, max: image.bytes.length }), { freq: 8 });
      await fc.assert(
        fc.asyncProperty(
          fc.array(change, { minLength: 1, maxLength: 8 }),
          truncateTo,
          async (changes, cut) => {
            const bytes = Buffer.from(image.bytes);
            for (const c of changes) bytes[c.at] = c.value;
            const data = cut === null ? bytes : bytes.subarray(0, cut);
            const outside: string[] = [];
            const outcome = await withinSeconds(
              readAll(guarded(data, outside)).then(
                () => "read",
                (e: unknown) => e,
              ),
              10,
            );
            if (outcome !== "read" && !(outcome instanceof Qcow2Error || outcome instanceof SourceRangeError))
              throw new Error(`not a clean refusal: ${String(outcome)}`, { cause: outcome });
            expect(outside).toEqual([]);
          },
        ),
        {
          seed,
          numRuns: 150,
          // Found by this test: truncated inside a cluster, before one of its allocated subclusters.
          examples: name === "extended-l2" ? [[[{ at: 80, value: 0 }], 393217]] : [],
        },
      );
    },
  );
});

describe("qcow2 reader on valid images", { timeout: 180_000 }, () => {
  const write = fc.record({
    cluster: fc.integer({ min: 0, max: 60 }), // + up to 4 clusters: within the 64-cluster disk
    clusters: fc.integer({ min: 1, max: 4 }),
    pattern: fc.integer({ min: 1, max: 255 }),
    zero: fc.boolean(),
  });
  const spec = fc.record({
    clusterSize: fc.constantFrom(512, 4096, 65536),
    base: fc.array(write, { maxLength: 8 }),
    top: fc.array(write, { maxLength: 8 }),
    compressBase: fc.boolean(),
    extendedL2: fc.boolean(),
  });

  it("reads every generated chain exactly as qemu-img convert does", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        const dir = path.join(root.dir, `valid-${n++}`);
        await (await import("node:fs/promises")).mkdir(dir);
        // Extended L2 needs clusters of 16 KiB or more.
        const extendedL2 = s.extendedL2 && s.clusterSize >= 16384;
        const io = (ws: typeof s.base) =>
          ws.map((w) => {
            const at = w.cluster * s.clusterSize;
            const len = w.clusters * s.clusterSize;
            return w.zero ? `write -z ${at} ${len}` : `write -P ${w.pattern} ${at} ${len}`;
          });
        const size = `${64 * s.clusterSize + 3 * 512}`;
        const chain = await buildChain(dir, {
          size,
          clusterSize: s.clusterSize,
          extendedL2,
          layers: [{ io: io(s.base) }, { io: io(s.top) }],
        });
        if (s.compressBase) {
          // Replace the base by a compressed copy of itself under the same name.
          const packed = `${chain.paths[0]}.packed`;
          await qemuImg([
            "convert",
            "-c",
            "-O",
            "qcow2",
            "-o",
            `cluster_size=${s.clusterSize}`,
            chain.paths[0] ?? "",
            packed,
          ]);
          await (await import("node:fs/promises")).rename(packed, chain.paths[0] ?? "");
        }
        const expected = path.join(dir, "expected.raw");
        await qemuConvertRaw(chain.top, expected);
        const opened = await ImageChain.open(
          await Promise.all(chain.paths.map(async (p) => ({ src: await openFileSource(p), name: p }))),
        );
        const actual = path.join(dir, "actual.raw");
        try {
          await convertChainToRaw(opened, actual);
        } finally {
          await opened.close();
        }
        expect(await sha256File(actual)).toBe(await sha256File(expected));
      }),
      { seed, numRuns: 12 },
    );
  });
});
