/**
 * Backup benchmark (not a test): backupVm of a VM with a 4 GiB disk holding ~1 GiB of incompressible data from
 * the simulator (own process, see backup-sim.ts) into a fresh repository, over HTTPS on loopback. Baseline,
 * measured in the same run on the same volumes: a plain imageio download of the same layers to /dev/null (ranged
 * GETs over the same number of connections, timed from opening the ticket to the last byte). Then the same VM is
 * backed up again,
 * unchanged: bytes transferred and repository growth.
 *
 * Reported: data MiB/s of the backup (whole flow; its download phase; the streaming of the layers from imageio
 * into the repository alone, comparable to the baseline's ticket-open-to-last-byte time), the ratio to the
 * baseline, the daemon's checksum time (asked for every layer; the simulator's, not a real daemon's),
 * repository bytes written, the benchmark process's CPU time and peak RSS (flow and repository writer; the
 * simulator runs elsewhere).
 * Prints a table; writes JSON to bench-results/.
 *
 * Env: BENCH_DATA_MIB (default 1024), BENCH_TMP (default /dev/shm when it exists, so storage speed does not blur
 * the figures), BENCH_WORKERS (imageio connections, default 4).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { openRepository } from "@lifeboat/repository";
import { type BackupResult, backupVm, type FlowEvent, type FlowProgress } from "../src/flows";
import { ImageioTicket } from "../src/imageio";
import { benchEngineClient, type BenchSimInfo as SimInfo } from "./support/bench-sim";

const MiB = 1024 * 1024;
const here = import.meta.dirname;
const WORKERS = Number(process.env.BENCH_WORKERS ?? 4);

async function startSim(dir: string): Promise<{ child: ChildProcess; info: SimInfo }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "backup-sim.ts"), dir], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the simulator exited with ${code}`)));
  });
  return { child, info: JSON.parse(line) as SimInfo };
}

/**
 * The phases of a flow from its progress (when each began), and the time its layers spent streaming into the
 * repository (from each "downloading" event to the matching "stored" one).
 */
function phaseClock() {
  const started = performance.now();
  const at = new Map<string, number>();
  const streaming = new Map<string, number>();
  let streamSeconds = 0;
  return {
    onProgress: (p: FlowProgress) => {
      if (!at.has(p.phase)) at.set(p.phase, performance.now() - started);
    },
    onEvent: (e: FlowEvent) => {
      const id = e.details?.imageId;
      if (typeof id !== "string") return;
      if (/downloading/.test(e.message)) streaming.set(id, performance.now());
      else if (/bytes stored/.test(e.message) && streaming.has(id))
        streamSeconds += (performance.now() - (streaming.get(id) as number)) / 1000;
    },
    between: (a: string, b: string) => ((at.get(b) ?? 0) - (at.get(a) ?? 0)) / 1000,
    get streamSeconds() {
      return streamSeconds;
    },
  };
}

async function main() {
  const base = process.env.BENCH_TMP ?? (existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir());
  const dir = await mkdtemp(path.join(base, "lifeboat-bench-backup-"));
  let sim: ChildProcess | undefined;
  try {
    process.stderr.write("starting the simulator and writing the guest data...\n");
    const started = await startSim(path.join(dir, "sim"));
    sim = started.child;
    const { info } = started;
    const engine = benchEngineClient(info);
    const imageio = { caPem: info.caPem, workers: WORKERS };
    const repository = await openRepository(path.join(dir, "repo"), { create: true });
    const knownLayers = new Map<
      string,
      { layerId: string; sha256: string; size: number; imageioChecksum?: string }
    >();
    const backup = async (): Promise<{
      result: BackupResult;
      seconds: number;
      cpuSeconds: number;
      downloadSeconds: number;
      streamSeconds: number;
    }> => {
      const clock = phaseClock();
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const result = await backupVm({
        engine,
        imageio,
        vmId: info.vmId,
        repository,
        restorePointId: randomUUID(),
        jobRef: "bench",
        knownLayer: async (imageId) => knownLayers.get(imageId),
        onProgress: clock.onProgress,
        onEvent: clock.onEvent,
      });
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      for (const l of result.disks.flatMap((d) => d.layers)) knownLayers.set(l.imageId, l);
      return {
        result,
        seconds,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        downloadSeconds: clock.between("download", "finishing"),
        streamSeconds: clock.streamSeconds,
      };
    };

    process.stderr.write("backup 1 (fresh repository)...\n");
    const first = await backup();
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const layers = first.result.disks.flatMap((d) => d.layers);
    const layerBytes = layers.reduce((s, l) => s + l.size, 0);
    const stats1 = await repository.stats();

    // Baseline: the same volumes, frozen by a snapshot as in the backup, downloaded to /dev/null.
    process.stderr.write("baseline: plain imageio download of the same layers...\n");
    const snap = await engine.snapshots.create(info.vmId, { description: "bench baseline" });
    let baseline = 0;
    let baselineData = 0;
    let checksumSeconds = 0;
    for (const l of layers) {
      const t = await engine.imageTransfers.start({ direction: "download", snapshot: l.imageId });
      const t0 = performance.now();
      const ticket = await ImageioTicket.open(
        { transferUrl: t.transferUrl ?? "", proxyUrl: t.proxyUrl },
        { caPem: info.caPem, workers: WORKERS },
      );
      for await (const s of ticket.download()) baselineData += s.zero ? 0 : s.data.length;
      baseline += (performance.now() - t0) / 1000;
      await ticket.close();
      await engine.imageTransfers.finalizeAndWait(t.id);
      // The daemon's checksum, which the backup asks for every layer (not part of the baseline).
      const t2 = await engine.imageTransfers.start({ direction: "download", snapshot: l.imageId });
      const ticket2 = await ImageioTicket.open({ transferUrl: t2.transferUrl ?? "" }, { caPem: info.caPem });
      const c0 = performance.now();
      await ticket2.checksum();
      checksumSeconds += (performance.now() - c0) / 1000;
      await ticket2.close();
      await engine.imageTransfers.finalizeAndWait(t2.id);
    }
    await engine.snapshots.delete(info.vmId, snap.id);

    process.stderr.write("backup 2 (unchanged VM)...\n");
    const second = await backup();
    const stats2 = await repository.stats();
    const verify = await repository.verify();
    await engine.close();

    const mibps = (bytes: number, s: number) => bytes / MiB / s;
    const rows = [
      { name: "plain download → /dev/null", seconds: baseline, mibps: mibps(layerBytes, baseline), ratio: 1 },
      {
        name: "backup 1 (whole flow)",
        seconds: first.seconds,
        mibps: mibps(layerBytes, first.seconds),
        ratio: baseline / first.seconds,
      },
      {
        name: "backup 1 (download phase)",
        seconds: first.downloadSeconds,
        mibps: mibps(layerBytes, first.downloadSeconds),
        ratio: baseline / first.downloadSeconds,
      },
      {
        name: "backup 1 (imageio → repository)",
        seconds: first.streamSeconds,
        mibps: mibps(layerBytes, first.streamSeconds),
        ratio: baseline / first.streamSeconds,
      },
      {
        name: "daemon checksum (sim)",
        seconds: checksumSeconds,
        mibps: mibps(layerBytes, checksumSeconds),
        ratio: baseline / checksumSeconds,
      },
      {
        name: "backup 2 (unchanged)",
        seconds: second.seconds,
        mibps: mibps(layerBytes, second.seconds),
        ratio: baseline / second.seconds,
      },
    ];
    const result = {
      date: new Date().toISOString(),
      disk: {
        virtualBytes: 4 * 1024 * MiB,
        guestWrittenBytes: info.writtenBytes,
        layers: layers.length,
        layerBytes,
      },
      workers: WORKERS,
      rows,
      backup1: {
        transferredBytes: first.result.transferredBytes,
        repositoryBytesWritten: first.result.newStoredBytes,
        storedBytesAfter: stats1.storedBytes,
        peakRssBytes: peakRss,
        cpuSeconds: first.cpuSeconds,
      },
      backup2: {
        transferredBytes: second.result.transferredBytes,
        reusedLayers: second.result.disks.flatMap((d) => d.layers).filter((l) => l.reused).length,
        repositoryGrowthBytes: stats2.storedBytes - stats1.storedBytes,
        newStoredBytes: second.result.newStoredBytes,
      },
      baselineDataBytes: baselineData,
      verified: verify.ok,
    };
    process.stdout.write(
      `backup bench: VM with a 4 GiB disk, ${(info.writtenBytes / MiB).toFixed(0)} MiB written by the guest, ${layers.length} layer(s) of ${(layerBytes / MiB).toFixed(0)} MiB, HTTPS loopback, ${WORKERS} imageio connections\n\n`,
    );
    process.stdout.write(
      `${"".padEnd(34)}${"seconds".padStart(9)}${"MiB/s".padStart(9)}${"vs plain".padStart(10)}\n`,
    );
    for (const r of rows)
      process.stdout.write(
        `${r.name.padEnd(34)}${r.seconds.toFixed(2).padStart(9)}${r.mibps.toFixed(0).padStart(9)}${`${r.ratio.toFixed(2)}x`.padStart(10)}\n`,
      );
    process.stdout.write(
      `\nbackup 1: ${(first.result.transferredBytes / MiB).toFixed(1)} MiB transferred, repository bytes written ${(first.result.newStoredBytes / MiB).toFixed(1)} MiB, CPU ${first.cpuSeconds.toFixed(1)} s, peak RSS ${(peakRss / MiB).toFixed(0)} MiB (Node + tsx included)\n`,
    );
    process.stdout.write(
      `backup 2 (unchanged): ${(second.result.transferredBytes / MiB).toFixed(1)} MiB transferred, ${result.backup2.reusedLayers}/${layers.length} layer(s) reused, repository grew by ${(result.backup2.repositoryGrowthBytes / 1024).toFixed(1)} KiB\n`,
    );
    process.stdout.write(
      `vs plain: the baseline's seconds divided by the row's (1.00x = as fast as a plain download); repository verify: ${verify.ok ? "OK" : "DAMAGED"}\n`,
    );
    const out = path.join(here, "..", "bench-results");
    mkdirSync(out, { recursive: true });
    const file = path.join(out, `backup-${result.date.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`written: ${path.relative(process.cwd(), file)}\n`);
    if (!verify.ok) process.exitCode = 1;
  } finally {
    sim?.stdin?.end();
    if (sim && sim.exitCode === null) await new Promise((r) => sim?.once("exit", r));
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
