/**
 * End-to-end job benchmark (not a test): a VM with a 4 GiB disk holding ~1 GiB of incompressible data on the
 * simulator (its own process: backup-sim.ts), backed up through the whole job path — API
 * `backups.start` → pg-boss → a real worker process → backupVm → repository → catalog transaction — and, as the
 * baseline measured in the same run, through ovirt-core's backupVm flow alone in this process (same engine,
 * same settings, a fresh repository). Then the VM is backed up again through the job path, unchanged.
 *
 * Reported: data MiB/s of the job path and of the flow alone, their ratio, the worker process's peak RSS
 * (VmHWM), repository bytes written; for the unchanged second backup the bytes transferred and the repository
 * growth. Prints a table; writes JSON to bench-results/.
 *
 * Env: BENCH_DATA_MIB (default 1024), BENCH_TMP (default /dev/shm when it exists, so storage speed does not blur
 * the figures), DATABASE_URL (a PostgreSQL server to create the bench database on; else an embedded one).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { sealSecret } from "@lifeboat/config";
import type { Db } from "@lifeboat/db";
import { createTestDatabase, startTestDatabaseServer } from "@lifeboat/db/testing";
import { startBackup } from "@lifeboat/domain";
import { createJobQueue, stopBosses } from "@lifeboat/jobs";
import { backupVm } from "@lifeboat/ovirt-core";
import { benchEngineClient, type BenchSimInfo as SimInfo } from "@lifeboat/ovirt-core/bench-support";
import { openRepository } from "@lifeboat/repository";
import { acting, createPerson } from "../test/support/people";

const MiB = 1024 * 1024;
const here = import.meta.dirname;
const root = path.resolve(here, "../../..");
const tmpRoot = process.env.BENCH_TMP ?? (existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir());

function startChild(args: string[], env: NodeJS.ProcessEnv, cwd = root): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd,
    env,
    stdio: ["pipe", "pipe", "inherit"],
  });
}

async function firstLine(child: ChildProcess, match: (line: string) => boolean): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.on("line", (line) => {
      if (match(line)) resolve(line);
    });
    child.once("exit", (code) => reject(new Error(`child exited with ${code}`)));
  });
}

/** Peak resident set of a process (kB → bytes), from /proc. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) total += (await stat(path.join(e.parentPath, e.name))).size;
  return total;
}

async function waitJob(db: Db, jobId: string) {
  for (;;) {
    const job = await db.job.findUniqueOrThrow({ where: { id: jobId } });
    if (job.state === "succeeded") return job;
    if (job.state === "failed" || job.state === "cancelled")
      throw new Error(`backup job ${jobId} ended ${job.state}: ${job.error}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const mibs = (bytes: number, seconds: number) => bytes / MiB / seconds;

async function main() {
  const dir = await mkdtemp(path.join(tmpRoot, "lifeboat-bench-worker-"));
  const children: ChildProcess[] = [];
  const pg = await startTestDatabaseServer();
  try {
    const t = await createTestDatabase(pg);
    process.stderr.write("bench: starting the simulator and writing the guest data…\n");
    const sim = startChild([path.join(here, "backup-sim.ts"), path.join(dir, "sim")], {
      ...process.env,
    });
    children.push(sim);
    const info = JSON.parse(await firstLine(sim, (l) => l.startsWith("{"))) as SimInfo;

    // Baseline: the flow alone, in this process, into its own repository.
    const engine = benchEngineClient(info);
    // Run before and after the job path, each into a fresh repository; the faster counts.
    const flowRuns: Array<{ seconds: number; transferredBytes: number }> = [];
    const runFlow = async () => {
      const repoDir = path.join(dir, `flow-repo-${flowRuns.length + 1}`);
      const repository = await openRepository(repoDir, { create: true });
      process.stderr.write(`bench: backupVm alone, run ${flowRuns.length + 1}…\n`);
      const f0 = performance.now();
      const r = await backupVm({
        engine,
        imageio: { caPem: info.caPem },
        vmId: info.vmId,
        repository,
        restorePointId: randomUUID(),
        jobRef: "bench flow",
      });
      flowRuns.push({ seconds: (performance.now() - f0) / 1000, transferredBytes: r.transferredBytes });
      await rm(repoDir, { recursive: true, force: true });
    };
    await runFlow();

    // The job path: catalog, API, a worker process.
    const key = randomBytes(32).toString("hex");
    const engineRow = await t.db.engine.create({
      data: {
        name: "bench engine",
        apiUrl: info.engineUrl,
        username: info.user,
        secretSealed: sealSecret(info.password, Buffer.from(key, "hex")),
        caPem: info.caPem,
        simulated: true,
      },
    });
    const vm = await t.db.vm.create({ data: { engineId: engineRow.id, vmId: info.vmId, name: "bench01" } });
    const queue = createJobQueue(t.db, t.url);
    const admin = await createPerson(t.db, { email: "bench@lifeboat.test", siteAdmin: true });
    const repoDir = path.join(dir, "job-repo");
    const worker = startChild(
      ["src/main.ts"],
      {
        ...process.env,
        DATABASE_URL: t.url,
        LIFEBOAT_ENCRYPTION_KEY: key,
        LIFEBOAT_REPOSITORY_DIR: repoDir,
        LIFEBOAT_DATA_DIR: path.join(dir, "data"),
      },
      path.join(root, "apps/worker"),
    );
    children.push(worker);
    await firstLine(worker, (l) => l.includes("[worker] ready"));

    process.stderr.write("bench: backup job (API → queue → worker → catalog)…\n");
    const j0 = performance.now();
    const first = await waitJob(
      t.db,
      (
        await acting(t.db, queue, admin, "backup:create").then((c) =>
          startBackup(c, c.actor, { vmId: vm.id }),
        )
      ).jobId,
    );
    const jobSeconds = (performance.now() - j0) / 1000;
    const firstResult = first.result as { transferredBytes: number; newStoredBytes: number };
    // Where the job path's extra time goes: waiting for a worker to take the job, then the job itself.
    const pickupSeconds = ((first.startedAt?.getTime() ?? 0) - first.createdAt.getTime()) / 1000;
    const inWorkerSeconds = ((first.finishedAt?.getTime() ?? 0) - (first.startedAt?.getTime() ?? 0)) / 1000;
    const repoAfterFirst = await dirBytes(repoDir);

    process.stderr.write("bench: second backup job, VM unchanged…\n");
    const k0 = performance.now();
    const second = await waitJob(
      t.db,
      (
        await acting(t.db, queue, admin, "backup:create").then((c) =>
          startBackup(c, c.actor, { vmId: vm.id }),
        )
      ).jobId,
    );
    const secondSeconds = (performance.now() - k0) / 1000;
    const secondResult = second.result as { transferredBytes: number; reusedLayers: number; layers: number };
    const repoAfterSecond = await dirBytes(repoDir);
    const workerPeak = peakRss(worker.pid as number);

    await runFlow();
    await engine.close();
    const flow = flowRuns.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const flowRate = mibs(flow.transferredBytes, flow.seconds);
    const jobRate = mibs(firstResult.transferredBytes, jobSeconds);
    const result = {
      dataMiB: Number(process.env.BENCH_DATA_MIB ?? 1024),
      flowAlone: { ...flow, runs: flowRuns.map((r) => r.seconds), mibPerSecond: flowRate },
      jobPath: {
        seconds: jobSeconds,
        pickupSeconds,
        inWorkerSeconds,
        transferredBytes: firstResult.transferredBytes,
        repositoryBytesWritten: repoAfterFirst,
        mibPerSecond: jobRate,
        ratioToFlowAlone: jobRate / flowRate,
        workerPeakRssBytes: workerPeak,
      },
      unchangedSecondBackup: {
        seconds: secondSeconds,
        transferredBytes: secondResult.transferredBytes,
        reusedLayers: `${secondResult.reusedLayers}/${secondResult.layers}`,
        repositoryGrowthBytes: repoAfterSecond - repoAfterFirst,
      },
    };
    const row = (label: string, value: string) => process.stdout.write(`${label.padEnd(54)} ${value}\n`);
    process.stdout.write("\nEnd-to-end backup job (4 GiB disk, incompressible data)\n");
    row(
      "flow alone (backupVm in-process, best of 2)",
      `${flowRate.toFixed(1)} MiB/s, ${flow.seconds.toFixed(2)} s`,
    );
    row(
      "job path (API → pg-boss → worker → catalog)",
      `${jobRate.toFixed(1)} MiB/s, ${jobSeconds.toFixed(2)} s`,
    );
    row("ratio job path / flow alone", (jobRate / flowRate).toFixed(3));
    row("job path: queued → taken by a worker", `${pickupSeconds.toFixed(2)} s`);
    row("job path: in the worker (slot, login, flow, catalog)", `${inWorkerSeconds.toFixed(2)} s`);
    row("bytes transferred (job)", `${(firstResult.transferredBytes / MiB).toFixed(1)} MiB`);
    row("repository bytes written (job)", `${(repoAfterFirst / MiB).toFixed(1)} MiB`);
    row("worker peak RSS (VmHWM)", `${(workerPeak / MiB).toFixed(0)} MiB`);
    row(
      "unchanged second backup: bytes transferred",
      `${(secondResult.transferredBytes / MiB).toFixed(2)} MiB`,
    );
    row(
      "unchanged second backup: repository growth",
      `${((repoAfterSecond - repoAfterFirst) / 1024).toFixed(1)} KiB`,
    );
    row("unchanged second backup: layers reused", result.unchangedSecondBackup.reusedLayers);
    row("unchanged second backup: time", `${secondSeconds.toFixed(2)} s`);
    const out = path.join(here, "..", "bench-results");
    if (!existsSync(out)) mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, "worker-e2e-backup.json"), `${JSON.stringify(result, null, 2)}\n`);
    await stopBosses();
    await t.drop().catch(() => undefined);
  } finally {
    for (const c of children) {
      c.stdin?.end();
      c.kill("SIGTERM");
    }
    await Promise.all(
      children.map((c) => new Promise<void>((r) => (c.exitCode !== null ? r() : c.once("exit", () => r())))),
    );
    await pg.teardown().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
