/**
 * Incremental-forever benchmark (not a test), issue "incremental-forever": a VM with a BENCH_DISK_GIB (default 16)
 * GiB sparse disk holding BENCH_DATA_MIB (default 2048) MiB of incompressible guest data, on a cluster at level
 * 4.7 (hybrid backups), in the simulator's own process (backup-sim.ts), over HTTPS on loopback, 4 imageio
 * connections.
 *
 * 1. A full backup through the backup API. Baseline, same run: a plain imageio download of the disk's data
 *    extents (format raw, ranged GETs over the same connections) to /dev/null.
 * 2. BENCH_CHANGE_MIB (default 64) MiB of guest writes at random places, then an incremental: bytes transferred
 *    (target ≤ the change plus rounding), seconds, ratio to the full, repository growth.
 * 3. The same for the snapshot-chain mode beside it: a snapshot-chain backup, the same amount of change, another
 *    snapshot-chain backup.
 * Peak RSS of this process (flow and repository writer) is read after step 2 (target ≤ 300 MiB; Node + tsx
 * included). Prints a table; writes JSON to bench-results/.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { writeGuestData } from "@lifeboat/ovirt-sim";
import { openRepository, type Repository } from "@lifeboat/repository";
import type { EngineClient } from "../src/engine";
import { backupVm, backupVmWithBackupApi, type KnownLayer, previousBackupPoint } from "../src/flows";
import { ImageioTicket } from "../src/imageio";
import { type BenchSimInfo, benchEngineClient } from "./support/bench-sim";

const MiB = 1024 * 1024;
const here = import.meta.dirname;
const WORKERS = 4;
const DISK_GIB = Number(process.env.BENCH_DISK_GIB ?? 16);
const DATA_MIB = Number(process.env.BENCH_DATA_MIB ?? 2048);
const CHANGE_MIB = Number(process.env.BENCH_CHANGE_MIB ?? 64);

async function startSim(dir: string): Promise<{ child: ChildProcess; info: BenchSimInfo }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "backup-sim.ts"), dir], {
    stdio: ["pipe", "pipe", "inherit"],
    env: {
      ...process.env,
      BENCH_DISK_GIB: String(DISK_GIB),
      BENCH_DATA_MIB: String(DATA_MIB),
      BENCH_CLUSTER_LEVEL: "4.7",
      BENCH_INCREMENTAL: "1",
    },
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the simulator exited with ${code}`)));
  });
  return { child, info: JSON.parse(line) as BenchSimInfo };
}

/** A plain download of the disk's data extents (format raw), as a client without Lifeboat would read them. */
async function plainDownload(engine: EngineClient, info: BenchSimInfo) {
  const t = await engine.imageTransfers.start({ direction: "download", disk: info.diskId, format: "raw" });
  const t0 = performance.now();
  const ticket = await ImageioTicket.open(
    { transferUrl: t.transferUrl ?? "", proxyUrl: t.proxyUrl },
    { caPem: info.caPem, workers: WORKERS },
  );
  let bytes = 0;
  for await (const s of ticket.download()) bytes += s.zero ? 0 : s.data.length;
  const seconds = (performance.now() - t0) / 1000;
  await ticket.close();
  await engine.imageTransfers.finalizeAndWait(t.id);
  return { bytes, seconds };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

async function main() {
  const base = process.env.BENCH_TMP ?? (existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir());
  const dir = await mkdtemp(path.join(base, "lifeboat-bench-backup-api-"));
  const simDir = path.join(dir, "sim");
  let sim: ChildProcess | undefined;
  try {
    process.stderr.write(`starting the simulator: ${DISK_GIB} GiB disk, ${DATA_MIB} MiB of guest data...\n`);
    const started = await startSim(simDir);
    sim = started.child;
    const { info } = started;
    const engine = benchEngineClient(info);
    const imageio = { caPem: info.caPem, workers: WORKERS };
    const common = (repository: Repository) => ({
      engine,
      imageio,
      vmId: info.vmId,
      repository,
      restorePointId: randomUUID(),
      jobRef: "bench",
    });
    const change = (seed: number) =>
      writeGuestData({ dataDir: simDir, vmName: "bench01", mib: CHANGE_MIB, seed });

    // 1. backup API: full, then the baseline on the same data
    const apiRepo = await openRepository(path.join(dir, "repo-api"), { create: true });
    process.stderr.write("backup API: full backup...\n");
    const full = await timed(() => backupVmWithBackupApi(common(apiRepo)));
    const apiAfterFull = await apiRepo.stats();
    process.stderr.write("baseline: plain imageio download of the data extents...\n");
    const plain = await plainDownload(engine, info);

    // 2. change, incremental
    process.stderr.write(`guest writes ${CHANGE_MIB} MiB; backup API: incremental...\n`);
    await change(2);
    const previous = await previousBackupPoint(apiRepo, info.vmId);
    const incr = await timed(() => backupVmWithBackupApi({ ...common(apiRepo), previous }));
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const apiAfterIncr = await apiRepo.stats();
    const apiVerify = await apiRepo.verify();

    // 3. snapshot chain, same change
    const chainRepo = await openRepository(path.join(dir, "repo-chain"), { create: true });
    const known = new Map<string, KnownLayer>();
    const chainBackup = () =>
      timed(async () => {
        const r = await backupVm({ ...common(chainRepo), knownLayer: async (id) => known.get(id) });
        for (const l of r.disks.flatMap((d) => d.layers)) known.set(l.imageId, l);
        return r;
      });
    process.stderr.write("snapshot chain: first backup...\n");
    const chain1 = await chainBackup();
    const chainAfter1 = await chainRepo.stats();
    process.stderr.write(`guest writes ${CHANGE_MIB} MiB; snapshot chain: next backup...\n`);
    await change(3);
    const chain2 = await chainBackup();
    const chainAfter2 = await chainRepo.stats();
    await engine.close();

    const mib = (b: number) => b / MiB;
    const rows = [
      [
        "plain download of the data (baseline)",
        plain.seconds,
        mib(plain.bytes),
        mib(plain.bytes) / plain.seconds,
        1,
      ],
      [
        "backup API: full",
        full.seconds,
        mib(full.value.transferredBytes),
        mib(full.value.transferredBytes) / full.seconds,
        plain.seconds / full.seconds,
      ],
      [
        `backup API: incremental (${CHANGE_MIB} MiB changed)`,
        incr.seconds,
        mib(incr.value.transferredBytes),
        mib(incr.value.transferredBytes) / incr.seconds,
        plain.seconds / incr.seconds,
      ],
      [
        "snapshot chain: first",
        chain1.seconds,
        mib(chain1.value.transferredBytes),
        mib(chain1.value.transferredBytes) / chain1.seconds,
        plain.seconds / chain1.seconds,
      ],
      [
        `snapshot chain: next (${CHANGE_MIB} MiB changed)`,
        chain2.seconds,
        mib(chain2.value.transferredBytes),
        mib(chain2.value.transferredBytes) / chain2.seconds,
        plain.seconds / chain2.seconds,
      ],
    ] as const;
    const result = {
      date: new Date().toISOString(),
      disk: {
        virtualBytes: DISK_GIB * 1024 * MiB,
        guestDataBytes: info.writtenBytes,
        changeBytes: CHANGE_MIB * MiB,
      },
      workers: WORKERS,
      rows: rows.map(([name, seconds, transferredMiB, mibps, vsPlain]) => ({
        name,
        seconds,
        transferredMiB,
        mibps,
        vsPlain,
      })),
      incremental: {
        transferredBytes: incr.value.transferredBytes,
        changedBytes: incr.value.disks.reduce((n, d) => n + d.changedBytes, 0),
        mode: incr.value.mode,
        secondsVsFull: incr.seconds / full.seconds,
        repositoryGrowthBytes: apiAfterIncr.storedBytes - apiAfterFull.storedBytes,
      },
      snapshotChain: {
        transferredBytes: chain2.value.transferredBytes,
        repositoryGrowthBytes: chainAfter2.storedBytes - chainAfter1.storedBytes,
      },
      peakRssBytes: peakRss,
      verified: apiVerify.ok,
    };
    process.stdout.write(
      `backup-API bench: ${DISK_GIB} GiB sparse disk, ${mib(info.writtenBytes).toFixed(0)} MiB of guest data, cluster level 4.7 (hybrid), HTTPS loopback, ${WORKERS} imageio connections\n\n`,
    );
    process.stdout.write(
      `${"".padEnd(44)}${"seconds".padStart(9)}${"MiB moved".padStart(11)}${"MiB/s".padStart(8)}${"vs plain".padStart(10)}\n`,
    );
    for (const [name, seconds, moved, rate, vs] of rows)
      process.stdout.write(
        `${name.padEnd(44)}${seconds.toFixed(2).padStart(9)}${moved.toFixed(1).padStart(11)}${rate.toFixed(0).padStart(8)}${`${vs.toFixed(2)}x`.padStart(10)}\n`,
      );
    process.stdout.write(
      `\nincremental: ${mib(result.incremental.transferredBytes).toFixed(1)} MiB transferred for ${CHANGE_MIB} MiB written (target ≤ ${CHANGE_MIB} MiB + rounding), mode ${incr.value.mode}, ${(result.incremental.secondsVsFull * 100).toFixed(1)}% of the full's time; repository grew ${mib(result.incremental.repositoryGrowthBytes).toFixed(1)} MiB\n`,
    );
    process.stdout.write(
      `snapshot chain, same change: ${mib(result.snapshotChain.transferredBytes).toFixed(1)} MiB transferred; repository grew ${mib(result.snapshotChain.repositoryGrowthBytes).toFixed(1)} MiB\n`,
    );
    process.stdout.write(
      `peak RSS (flows + repository writer, Node + tsx included): ${mib(peakRss).toFixed(0)} MiB (target ≤ 300 MiB); repository verify: ${apiVerify.ok ? "OK" : "DAMAGED"}\n`,
    );
    const out = path.join(here, "..", "bench-results");
    mkdirSync(out, { recursive: true });
    const file = path.join(out, `backup-api-${result.date.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`written: ${path.relative(process.cwd(), file)}\n`);
    if (!apiVerify.ok || incr.value.mode !== "incremental") process.exitCode = 1;
  } finally {
    sim?.stdin?.end();
    if (sim && sim.exitCode === null) await new Promise((r) => sim?.once("exit", r));
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
