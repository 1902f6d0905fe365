/**
 * Flattening qcow2 chains to raw: convertChainToRaw against `qemu-img convert -O raw` (the baseline,
 * measured in the same run on the same files). Each of our runs is a child process, so its peak RSS is its own.
 *
 *   pnpm --filter @lifeboat/disk-image exec tsx bench/qcow2-convert.ts        (BENCH_QCOW2_GIB=1 by default)
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { convertChainToRaw, ImageChain, openFileSource, resolveBackingChain } from "../src";

const run = promisify(execFile);
const MiB = 1024 * 1024;

if (process.argv[2] === "child") {
  // One conversion; prints seconds and peak RSS. The RSS high-water mark of a fresh process on Linux starts
  // at the parent's (it survives exec), so the peak is sampled instead.
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const [, , , top, out] = process.argv;
  const files = await resolveBackingChain(top!);
  const chain = await ImageChain.open(
    await Promise.all(files.map(async (f) => ({ src: await openFileSource(f), name: f }))),
  );
  const started = performance.now();
  const r = await convertChainToRaw(chain, out!);
  const seconds = (performance.now() - started) / 1000;
  await chain.close();
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  process.stdout.write(`${JSON.stringify({ seconds, maxRssBytes: peak, ...r })}\n`);
  process.exit(0);
}

const qemuImg = (args: string[], cwd: string) => run("qemu-img", args, { cwd, maxBuffer: 64 * MiB });
const qemuIo = (file: string, cmds: string[]) =>
  run("qemu-io", ["-f", "qcow2", ...cmds.flatMap((c) => ["-c", c]), file]);

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

interface Case {
  name: string;
  top: string;
  virtualBytes: number;
  dataBytes: number;
}

/** Virtual `gib` GiB, ~30% data spread over three 64 KiB-cluster layers, plus zero clusters. */
async function layeredCase(dir: string, gib: number): Promise<Case> {
  const size = gib * 1024 * MiB;
  const names = ["base", "mid", "top"];
  let data = 0;
  for (const [i, n] of names.entries()) {
    await qemuImg(
      ["create", "-f", "qcow2", ...(i ? ["-b", names[i - 1]!, "-F", "qcow2"] : []), n, String(size)],
      dir,
    );
    const cmds: string[] = [];
    // 10% of the disk per layer, in 1 MiB writes every 10 MiB with a per-layer offset.
    for (let off = i * 3 * MiB; off + MiB <= size; off += 10 * MiB) {
      cmds.push(`write -P ${0x11 * (i + 1)} ${off} ${MiB}`);
      data += MiB;
    }
    if (i === 2)
      for (let off = 5 * MiB; off + MiB <= size; off += 40 * MiB) cmds.push(`write -z ${off} ${MiB}`);
    for (let j = 0; j < cmds.length; j += 200) await qemuIo(path.join(dir, n), cmds.slice(j, j + 200));
  }
  return {
    name: `3 layers, 64 KiB clusters, ${gib} GiB, ~30% data`,
    top: path.join(dir, "top"),
    virtualBytes: size,
    dataBytes: data,
  };
}

/** A 256 MiB deflate-compressed image of mixed data (random 1/3, patterns 1/3, zero 1/3). */
async function compressedCase(dir: string, clusterSize: number, type: "zlib" | "zstd"): Promise<Case> {
  const raw = path.join(dir, "mixed.raw");
  const size = 256 * MiB;
  const buf = Buffer.alloc(size);
  for (let off = 0, i = 0; off < size; off += 4 * MiB, i++) {
    if (i % 3 === 0) randomBytes(4 * MiB).copy(buf, off);
    else if (i % 3 === 1)
      for (let k = 0; k < 4 * MiB; k += 512) buf.write(`sector ${off + k} `.padEnd(512, "x"), off + k);
  }
  await writeFile(raw, buf);
  const top = path.join(dir, `c-${clusterSize}-${type}`);
  await qemuImg(
    ["convert", "-c", "-O", "qcow2", "-o", `cluster_size=${clusterSize},compression_type=${type}`, raw, top],
    dir,
  );
  await rm(raw);
  return {
    name: `compressed (${type}), ${clusterSize / 1024} KiB clusters, 256 MiB`,
    top,
    virtualBytes: size,
    dataBytes: (size * 2) / 3,
  };
}

/** 64 MiB with 512-byte clusters: the worst case for metadata walking. */
async function smallClusterCase(dir: string): Promise<Case> {
  const size = 64 * MiB;
  const top = path.join(dir, "small");
  await qemuImg(["create", "-f", "qcow2", "-o", "cluster_size=512", top, String(size)], dir);
  const cmds: string[] = [];
  for (let off = 0; off < size; off += 4 * MiB) cmds.push(`write -P 0x42 ${off} ${MiB}`);
  await qemuIo(top, cmds);
  return { name: "512 B clusters, 64 MiB, 25% data", top, virtualBytes: size, dataBytes: size / 4 };
}

const root = path.join(os.tmpdir(), `lifeboat-bench-qcow2-${process.pid}`);
await mkdir(root, { recursive: true });
try {
  const gib = Number(process.env.BENCH_QCOW2_GIB ?? 1);
  const cases: Case[] = [];
  for (const [i, make] of [
    (d: string) => layeredCase(d, gib),
    (d: string) => compressedCase(d, 65536, "zlib"),
    (d: string) => compressedCase(d, 65536, "zstd"),
    smallClusterCase,
  ].entries()) {
    const d = path.join(root, String(i));
    await mkdir(d);
    cases.push(await make(d));
  }
  const self = path.resolve(import.meta.dirname, "qcow2-convert.ts");
  process.stdout.write(
    "qcow2 → raw conversion, convertChainToRaw vs qemu-img convert -O raw (same files, same run)\n",
  );
  for (const c of cases) {
    const qemuOut = path.join(root, "qemu.raw");
    const ourOut = path.join(root, "ours.raw");
    // Best of three, alternating, so both read from a warm page cache.
    let qemuSeconds = Number.POSITIVE_INFINITY;
    let ours = { seconds: Number.POSITIVE_INFINITY, maxRssBytes: 0 };
    for (let round = 0; round < 3; round++) {
      qemuSeconds = Math.min(
        qemuSeconds,
        await timed(() => qemuImg(["convert", "-O", "raw", c.top, qemuOut], root)),
      );
      const { stdout } = await run(process.execPath, ["--import", "tsx", self, "child", c.top, ourOut], {
        maxBuffer: MiB,
      });
      const r = JSON.parse(stdout) as { seconds: number; maxRssBytes: number };
      ours = {
        seconds: Math.min(ours.seconds, r.seconds),
        maxRssBytes: Math.max(ours.maxRssBytes, r.maxRssBytes),
      };
    }
    const same = (await run("cmp", [qemuOut, ourOut]).then(
      () => true,
      () => false,
    ))
      ? "identical"
      : "DIFFERENT";
    const ourAlloc = Number((await stat(ourOut)).blocks) * 512;
    process.stdout.write(
      [
        `\n${c.name}`,
        `  qemu-img: ${qemuSeconds.toFixed(2)} s`,
        `  lifeboat: ${ours.seconds.toFixed(2)} s = ${(ours.seconds / qemuSeconds).toFixed(2)}× qemu-img time; ` +
          `${(c.virtualBytes / MiB / ours.seconds).toFixed(0)} MiB/s virtual, ${(c.dataBytes / MiB / ours.seconds).toFixed(0)} MiB/s data; ` +
          `peak RSS ${(ours.maxRssBytes / MiB).toFixed(0)} MiB; output ${same}, ${(ourAlloc / MiB).toFixed(0)} MiB allocated\n`,
      ].join("\n"),
    );
    await rm(qemuOut);
    await rm(ourOut);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
