import { startSimulator } from "@lifeboat/ovirt-sim";
import { EngineClient } from "../../src/engine";

/** What the bench simulator prints (one JSON line) for the benchmark that started it. */
export interface BenchSimInfo {
  engineUrl: string;
  caPem: string;
  user: string;
  password: string;
  vmId: string;
  diskId: string;
  writtenBytes: number;
}

const GiB = 1024 * 1024 * 1024;

/** The engine client a benchmark drives the bench simulator with. */
export function benchEngineClient(info: BenchSimInfo): EngineClient {
  return new EngineClient({
    url: info.engineUrl,
    username: info.user,
    password: info.password,
    caPem: info.caPem,
    pollIntervalMs: 100,
  });
}

/**
 * The simulator of the backup benchmarks (ovirt-core's and the worker's), run as its own process so that a
 * benchmark's figures are its own: starts the sim on `dir` (cluster level BENCH_CLUSTER_LEVEL, else the sim's
 * default), adds VM bench01 with one BENCH_DISK_GIB (default 4) GiB cow disk (incremental backup enabled with
 * BENCH_INCREMENTAL=1), through the engine client over the API, has
 * the guest write BENCH_DATA_MIB (default 1024) MiB of incompressible data, prints
 * one JSON line with what a client needs, and runs until stdin closes.
 */
export async function runBenchSim(dir: string | undefined): Promise<void> {
  if (!dir) throw new Error("usage: backup-sim.ts <data dir>");
  const dataMiB = Number(process.env.BENCH_DATA_MIB ?? 1024);
  const diskGiB = Number(process.env.BENCH_DISK_GIB ?? 4);
  const clusterLevel = process.env.BENCH_CLUSTER_LEVEL as "4.4" | "4.6" | "4.7" | "4.8" | undefined;

  const sim = await startSimulator({
    dataDir: dir,
    seedScale: "small",
    asyncDelayMs: 30,
    transferPollMs: 30,
    ...(clusterLevel ? { clusterLevel } : {}),
  });
  const engine = new EngineClient({
    url: sim.engineUrl,
    username: sim.adminUser,
    password: sim.adminPassword,
    caPem: sim.caPem,
    pollIntervalMs: 50,
  });
  const disk = await engine.disks.add({
    name: "bench01_Disk1",
    format: "cow",
    sparse: true,
    // Incremental backup enabled only for the backup-API benchmark: the others measure the snapshot chain.
    ...(process.env.BENCH_INCREMENTAL === "1" ? { backup: "incremental" as const } : {}),
    provisionedSize: diskGiB * GiB,
    storageDomain: { name: "data1" },
  });
  await engine.disks.waitOk(disk.id);
  const added = await engine.request("POST", "/vms", {
    body: { name: "bench01", cluster: { name: "Default" }, memory: String(2 * GiB) },
  });
  const vmId = (added.json as { id: string }).id;
  await engine.diskAttachments.add(vmId, {
    diskId: disk.id,
    interface: "virtio_scsi",
    bootable: true,
    active: true,
  });
  await engine.close();
  const written = await sim.guest.write("bench01", dataMiB, { seed: 1 });

  const info: BenchSimInfo = {
    engineUrl: sim.engineUrl,
    caPem: sim.caPem,
    user: sim.adminUser,
    password: sim.adminPassword,
    vmId,
    diskId: disk.id,
    writtenBytes: written.bytes,
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);
  process.stdin.resume();
  process.stdin.once("end", () => {
    void sim.stop().then(() => process.exit(0));
  });
}
