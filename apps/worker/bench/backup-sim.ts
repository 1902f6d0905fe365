/**
 * The simulator of the end-to-end benchmark, in its own process so the worker's and the flow's figures are
 * their own: starts the sim on `<dir>`, adds VM bench01 with one 4 GiB cow disk (ovirt-core's engine client,
 * over the API), has the guest write BENCH_DATA_MIB (default 1024) MiB of incompressible data, prints one JSON
 * line with what a client needs, and runs until stdin closes. The same VM as ovirt-core's bench/backup-sim.ts,
 * reached by package name (a bench never starts another package's files).
 */

import { EngineClient } from "@lifeboat/ovirt-core";
import { startSimulator } from "@lifeboat/ovirt-sim";

const GiB = 1024 * 1024 * 1024;
const dir = process.argv[2];
if (!dir) throw new Error("usage: backup-sim.ts <data dir>");
const dataMiB = Number(process.env.BENCH_DATA_MIB ?? 1024);

const sim = await startSimulator({ dataDir: dir, seedScale: "small", asyncDelayMs: 30, transferPollMs: 30 });
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
  provisionedSize: 4 * GiB,
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

process.stdout.write(
  `${JSON.stringify({
    engineUrl: sim.engineUrl,
    caPem: sim.caPem,
    user: sim.adminUser,
    password: sim.adminPassword,
    vmId,
    diskId: disk.id,
    writtenBytes: written.bytes,
  })}\n`,
);
process.stdin.resume();
process.stdin.once("end", () => {
  void sim.stop().then(() => process.exit(0));
});
