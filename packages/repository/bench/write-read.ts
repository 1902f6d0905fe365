/**
 * Repository throughput: write a 1 GiB layer holding ~30% data (half compressible, half random) and read it
 * back, against a plain file copy of the same bytes measured in the same run. Every phase runs in its own
 * process so that its peak RSS is its own.
 *
 *   pnpm --filter @lifeboat/repository bench            (BENCH_SIZE_MIB=1024 by default)
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type LayerSegment, openRepository } from "../src";

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 1024) * MiB;

/** Chunk i holds data when i % 10 < 3; even data chunks are text-like, odd ones random. */
const isData = (i: number) => i % 10 < 3;

function compressibleChunk(i: number): Buffer {
  const words = [
    "lifeboat",
    "ovirt",
    "engine",
    "snapshot",
    "qcow2",
    "restore",
    "chunk",
    "layer",
    "disk",
    "vm",
  ];
  const lines: string[] = [];
  let n = 0;
  for (let k = 0; n < CHUNK; k++) {
    const line = `${k} ${words[(k * 7 + i) % words.length]} ${words[(k * 3) % words.length]} block=${i} seq=${(k * 2654435761) % 1000003}\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join("")).subarray(0, CHUNK);
}

const chunkData = (i: number) => (i % 2 === 0 ? compressibleChunk(i) : randomBytes(CHUNK));

async function makeSource(
  file: string,
): Promise<{ dataBytes: number; extents: [number, number, boolean][] }> {
  const fh = await fs.open(file, "w");
  let dataBytes = 0;
  const extents: [number, number, boolean][] = [];
  for (let i = 0; i * CHUNK < SIZE; i++) {
    if (isData(i)) {
      await fh.write(chunkData(i), 0, CHUNK, i * CHUNK);
      dataBytes += CHUNK;
    }
    extents.push([i * CHUNK, CHUNK, isData(i)]);
  }
  await fh.truncate(SIZE); // the rest is a sparse hole: zeroes when read
  await fh.close();
  return { dataBytes, extents };
}

function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

type PhaseResult = { seconds: number; peakRssMiB: number; [k: string]: unknown };

async function phase(name: string, args: string[]): Promise<PhaseResult> {
  const self = fileURLToPath(import.meta.url);
  const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, self, name, ...args], {
    maxBuffer: 16 * MiB,
    env: process.env,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as PhaseResult;
}

async function runPhase(name: string, args: string[]): Promise<PhaseResult> {
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;
  if (name === "copy") {
    const [src, dst] = args as [string, string];
    await pipeline(createReadStream(src), createWriteStream(dst));
    const fh = await fs.open(dst, "r+");
    await fh.sync(); // the repository's writes are durable; so is the baseline's
    await fh.close();
    return { seconds: seconds(), peakRssMiB: peakRssMiB() };
  }
  if (name === "write-stream" || name === "write-segments") {
    const [src, repoDir, extentsFile] = args as [string, string, string];
    const repo = await openRepository(repoDir, { create: true });
    let source: AsyncIterable<LayerSegment> | ReturnType<typeof createReadStream>;
    if (name === "write-stream") source = createReadStream(src, { highWaterMark: MiB });
    else {
      // What the imageio client yields: data extents read from the volume, zero extents as lengths only.
      const extents = JSON.parse(await fs.readFile(extentsFile, "utf8")) as [number, number, boolean][];
      source = (async function* () {
        const fh = await fs.open(src, "r");
        try {
          for (const [offset, length, data] of extents) {
            if (!data) {
              yield { offset, length, zero: true as const };
              continue;
            }
            const buf = Buffer.allocUnsafe(length);
            await fh.read(buf, 0, length, offset);
            yield { offset, data: buf };
          }
        } finally {
          await fh.close();
        }
      })();
    }
    const r = await repo.writeLayer(source, { imageId: name }, { expectedSize: SIZE });
    return {
      seconds: seconds(),
      peakRssMiB: peakRssMiB(),
      layerId: r.layerId,
      dataBytes: r.dataBytes,
      addedBytes: r.addedBytes,
      newChunks: r.newChunks,
      reusedChunks: r.reusedChunks,
      holes: r.holes,
      sha256: r.manifest.sha256,
    };
  }
  if (name === "read") {
    const [repoDir, layerId] = args as [string, string];
    const repo = await openRepository(repoDir);
    let bytes = 0;
    // A full read checks the layer's SHA-256 itself and fails the stream on a mismatch.
    for await (const b of await repo.readLayer(layerId)) bytes += (b as Buffer).length;
    return { seconds: seconds(), peakRssMiB: peakRssMiB(), bytes };
  }
  throw new Error(`unknown phase ${name}`);
}

async function main() {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "lifeboat-bench-repo-"));
  try {
    const src = path.join(work, "layer.raw");
    const { dataBytes, extents } = await makeSource(src);
    const extentsFile = path.join(work, "extents.json");
    await fs.writeFile(extentsFile, JSON.stringify(extents));
    const srcSha = createHash("sha256");
    for await (const b of createReadStream(src)) srcSha.update(b as Buffer);
    const expectedSha = srcSha.digest("hex");

    const copy = await phase("copy", [src, path.join(work, "copy.raw")]);
    await fs.rm(path.join(work, "copy.raw"));
    const write = await phase("write-stream", [src, path.join(work, "repo"), extentsFile]);
    const again = await phase("write-stream", [src, path.join(work, "repo"), extentsFile]);
    const segs = await phase("write-segments", [src, path.join(work, "repo-segments"), extentsFile]);
    const read = await phase("read", [path.join(work, "repo"), String(write.layerId)]);
    if (write.sha256 !== expectedSha || segs.sha256 !== expectedSha || read.bytes !== SIZE)
      throw new Error("bench: the layer did not round-trip");

    const mibs = (bytes: number, s: number) => bytes / MiB / s;
    const base = mibs(SIZE, copy.seconds);
    const row = (label: string, r: PhaseResult) =>
      `${label.padEnd(34)} ${r.seconds.toFixed(2).padStart(6)} s  ${mibs(SIZE, r.seconds).toFixed(0).padStart(6)} MiB/s logical  ${mibs(dataBytes, r.seconds).toFixed(0).padStart(5)} MiB/s data  x${(mibs(SIZE, r.seconds) / base).toFixed(2)} vs copy  peak RSS ${r.peakRssMiB.toFixed(0)} MiB`;
    const lines = [
      `layer ${SIZE / MiB} MiB, data ${(dataBytes / MiB).toFixed(0)} MiB (${((100 * dataBytes) / SIZE).toFixed(0)}%, half text-like, half random), chunk 4 MiB, ${os.availableParallelism()} cores`,
      row("baseline: createReadStream→WriteStream", copy),
      row("writeLayer (byte stream)", write),
      row("writeLayer again (all dedup)", again),
      row("writeLayer (imageio-style segments)", segs),
      row("readLayer (verified stream)", read),
      `stored ${(Number(write.addedBytes) / MiB).toFixed(1)} MiB for ${(dataBytes / MiB).toFixed(0)} MiB of data: compression ratio ${(dataBytes / Number(write.addedBytes)).toFixed(2)}; second write added ${again.addedBytes} bytes (${again.reusedChunks} chunks reused)`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

const [, , phaseName, ...phaseArgs] = process.argv;
if (phaseName) {
  runPhase(phaseName, phaseArgs).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
} else {
  main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
