/**
 * imageio client benchmark (not a test): download and upload of a 1 GiB raw image holding ~30% data over HTTPS on
 * loopback, against the simulated imageio daemon (own process, see server-main.ts; the image served as a qcow2
 * copy so its NBD extents are the raw file's data and zero extents), with a single-stream
 * `curl` GET of the same ticket measured in the same run as the baseline. The client runs in a child process so
 * its peak RSS is its own. Prints a table; writes JSON to bench-results/.
 *
 * Baselines, all single-stream curl over the same server: GET to /dev/null (the strict one: no disk), GET into a
 * file (what a user downloading an image does), PUT of the whole file (upload). Files live on /dev/shm when it
 * exists, so storage speed does not blur the client's figures.
 *
 * Env: BENCH_SIZE_MIB (default 1024), BENCH_RUNS (default 2; the best run counts), BENCH_TMP (temp folder).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { sameBytes } from "@lifeboat/disk-image/testing";
import { tempDir } from "../test/support/images";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 1024) * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const here = import.meta.dirname;

interface ClientRun {
  seconds: number;
  cpuSeconds: number;
  maxRssBytes: number;
  dataBytes: number;
}

/** ~30% data: in every 10 MiB, 3 MiB of random bytes at a varying position; the rest holes. */
async function makeImage(file: string): Promise<number> {
  const fh = await open(file, "w");
  let data = 0;
  try {
    await fh.truncate(SIZE);
    const buf = Buffer.allocUnsafe(MiB);
    for (let base = 0, i = 0; base < SIZE; base += 10 * MiB, i++) {
      const start = base + (i % 7) * MiB;
      for (let off = start; off < Math.min(start + 3 * MiB, SIZE); off += MiB) {
        randomFillSync(buf);
        await fh.write(buf, 0, MiB, off);
        data += MiB;
      }
    }
  } finally {
    await fh.close();
  }
  return data;
}

async function startServer(dataDir: string, files: string[]) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(here, "server-main.ts"), dataDir, ...files],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  const { port, caFile } = JSON.parse(line) as { port: number; caFile: string };
  return { child, port, caFile };
}

async function client(args: string[]): Promise<ClientRun> {
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", path.join(here, "client-main.ts"), ...args],
    {
      maxBuffer: 1024 * 1024,
    },
  );
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as ClientRun;
}

/** One curl transfer; its own `time_total` (no process start-up). `upload` = PUT of that file. */
async function curl(url: string, caFile: string, opts: { out?: string; upload?: string }): Promise<number> {
  const io = opts.upload ? ["-T", opts.upload, "-o", "/dev/null"] : ["-o", opts.out ?? "/dev/null"];
  const { stdout } = await run("curl", [
    "-sS",
    "--fail",
    "--cacert",
    caFile,
    ...io,
    "-w",
    "%{size_download} %{size_upload} %{time_total}",
    url,
  ]);
  const [down, up, seconds] = stdout.trim().split(" ").map(Number) as [number, number, number];
  if ((opts.upload ? up : down) !== SIZE)
    throw new Error(`curl moved ${opts.upload ? up : down} bytes, expected ${SIZE}`);
  return seconds;
}

const best = <T extends { seconds: number }>(runs: T[]): T =>
  runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));

async function main(): Promise<void> {
  const base = process.env.BENCH_TMP ?? (existsSync("/dev/shm") ? "/dev/shm" : undefined);
  const tmp = tempDir("lifeboat-bench-", base);
  let server: { child: ChildProcess; port: number; caFile: string } | undefined;
  try {
    const source = tmp.file("source.raw");
    const target = tmp.file("upload-target.raw");
    const curlTarget = tmp.file("upload-target-curl.raw");
    const out = tmp.file("download.raw");
    const curlOut = tmp.file("download-curl.raw");
    const dataBytes = await makeImage(source);
    for (const f of [target, curlTarget]) {
      const t = await open(f, "w");
      await t.truncate(SIZE);
      await t.close();
    }
    const sourceQcow2 = tmp.file("source.qcow2");
    await run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", source, sourceQcow2]);
    server = await startServer(tmp.file("sim"), [sourceQcow2, target, curlTarget]);
    const caFile = server.caFile;
    const url = (t: string) => `https://127.0.0.1:${server!.port}/images/${t}`;

    const curlNull: number[] = [];
    const curlFile: number[] = [];
    const curlPut: number[] = [];
    const downloads: ClientRun[] = [];
    const downloads1: ClientRun[] = [];
    const uploads: ClientRun[] = [];
    for (let i = 0; i < RUNS; i++) {
      curlNull.push(await curl(url("download"), caFile, {}));
      curlFile.push(await curl(url("download"), caFile, { out: curlOut }));
      downloads.push(await client(["download", url("download"), out, caFile, "4"]));
      downloads1.push(await client(["download", url("download"), out, caFile, "1"]));
      curlPut.push(await curl(url("upload-curl"), caFile, { upload: source }));
      uploads.push(await client(["upload", source, url("upload"), caFile, "4"]));
    }
    const downloadOk = await sameBytes(out, source);
    const uploadOk = await sameBytes(target, source);
    const curlGet = Math.min(...curlNull);
    const mibps = (bytes: number, s: number) => bytes / MiB / s;
    const row = (
      name: string,
      r: { seconds: number; cpuSeconds?: number; maxRssBytes?: number },
      data: number,
      baseline: number,
    ) => ({
      name,
      seconds: r.seconds,
      cpuSeconds: r.cpuSeconds,
      virtualMiBps: mibps(SIZE, r.seconds),
      dataMiBps: mibps(data, r.seconds),
      vsCurl: baseline / r.seconds,
      peakRssMiB: r.maxRssBytes === undefined ? undefined : r.maxRssBytes / MiB,
    });
    const rows = [
      row("curl GET > /dev/null", { seconds: curlGet }, SIZE, curlGet),
      row("curl GET > file", { seconds: Math.min(...curlFile) }, SIZE, curlGet),
      row("download, 4 workers", best(downloads), dataBytes, curlGet),
      row("download, 1 worker", best(downloads1), dataBytes, curlGet),
      row("curl PUT (whole file)", { seconds: Math.min(...curlPut) }, SIZE, Math.min(...curlPut)),
      row("upload, 4 workers", best(uploads), dataBytes, Math.min(...curlPut)),
    ];
    const result = {
      date: new Date().toISOString(),
      imageBytes: SIZE,
      dataBytes,
      runs: RUNS,
      verified: { download: downloadOk, upload: uploadOk },
      rows,
      all: { curlNull, curlFile, curlPut, downloads, downloads1, uploads },
    };
    process.stdout.write(
      `imageio bench: ${SIZE / MiB} MiB image, ${(dataBytes / MiB).toFixed(0)} MiB data (${((100 * dataBytes) / SIZE).toFixed(0)}%), HTTPS loopback, best of ${RUNS}\n\n`,
    );
    process.stdout.write(
      `${"".padEnd(24)}${"seconds".padStart(9)}${"cpu s".padStart(7)}${"virt MiB/s".padStart(12)}${"data MiB/s".padStart(12)}${"vs curl".padStart(9)}${"peak RSS".padStart(11)}\n`,
    );
    for (const r of rows)
      process.stdout.write(
        `${r.name.padEnd(24)}${r.seconds.toFixed(3).padStart(9)}${(r.cpuSeconds === undefined ? "-" : r.cpuSeconds.toFixed(2)).padStart(7)}${r.virtualMiBps.toFixed(0).padStart(12)}${r.dataMiBps.toFixed(0).padStart(12)}${`${r.vsCurl.toFixed(2)}x`.padStart(9)}${(r.peakRssMiB === undefined ? "-" : `${r.peakRssMiB.toFixed(0)} MiB`).padStart(11)}\n`,
      );
    process.stdout.write(
      "\nvs curl: downloads against curl GET > /dev/null, the upload against curl PUT; client RSS includes Node + tsx (~90 MiB idle)\n",
    );
    process.stdout.write(
      `\nbytes verified: download ${downloadOk ? "equal" : "DIFFERENT"}, upload ${uploadOk ? "equal" : "DIFFERENT"}\n`,
    );
    const dir = path.join(here, "..", "bench-results");
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `imageio-${result.date.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`written: ${path.relative(process.cwd(), file)}\n`);
    if (!downloadOk || !uploadOk) process.exitCode = 1;
  } finally {
    if (server) {
      const exited = new Promise((r) => server?.child.once("exit", r));
      server.child.kill("SIGTERM");
      await exited;
    }
    tmp.cleanup();
  }
}

await main();
