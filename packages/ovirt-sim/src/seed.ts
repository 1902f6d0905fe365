import { mkdirSync } from "node:fs";
import { truncate, writeFile } from "node:fs/promises";
import { Qcow2Volume } from "@lifeboat/disk-image";
import type { Engine } from "./engine/engine";
import type { AttachmentRec, ClusterLevel, DiskRec, SimStateData, VmRec } from "./model";
import { BLOCK, type BlockLabel, prng, randomBlocks, textBlocks } from "./patterns";
import { newId } from "./util/ids";
import { openVolumeChain } from "./volumes/chain";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const DAY = 24 * 3600 * 1000;

/** The empty infrastructure every data dir starts with: data center, cluster, host, two storage domains. */
export function baseState(host: string, level: ClusterLevel = "4.7"): SimStateData {
  const dcId = newId();
  const clusterId = newId();
  return {
    version: 1,
    dataCenter: { id: dcId, name: "Default" },
    clusters: [{ id: clusterId, name: "Default", dataCenterId: dcId, level }],
    host: { id: newId(), name: "host1", address: host, clusterId },
    storageDomains: [
      {
        id: newId(),
        name: "data1",
        storageType: "nfs",
        address: "nfs.lifeboat.sim",
        path: "/exports/data1",
        master: true,
        capacity: 2048 * GiB,
      },
      {
        id: newId(),
        name: "data2",
        storageType: "iscsi",
        address: "iscsi.lifeboat.sim",
        path: newId(),
        master: false,
        capacity: 1024 * GiB,
      },
    ],
    vms: [],
    disks: [],
    snapshots: [],
    transfers: [],
    backups: [],
    checkpoints: [],
    jobs: [],
    events: [],
    nextEventId: 1,
    nextMac: 0x1a0001,
  };
}

interface DiskPlan {
  alias: string;
  size: number;
  format: "cow" | "raw";
  iface: AttachmentRec["interface"];
  bootable: boolean;
  /** MiB of data written into the base volume. */
  dataMiB: number;
  /** `backup: incremental` (qcow2 disks only), for the backup API's incremental mode. */
  incremental?: boolean;
}

interface VmPlan {
  name: string;
  description: string;
  status: "up" | "down";
  memory: number;
  sockets: number;
  os: string;
  nics: number;
  disks: DiskPlan[];
  /** Snapshots taken after the base data, each followed by `dataMiB` of new data (with some zeroed ranges). */
  snapshots: Array<{ description: string; daysAgo: number; dataMiB: number }>;
}

function plans(scale: "demo" | "small"): VmPlan[] {
  const small = scale === "small";
  const size = (demo: number, tiny: number) => (small ? tiny : demo);
  return [
    {
      name: "web01",
      description: "Public web server",
      status: "up",
      memory: 2 * GiB,
      sockets: 2,
      os: "rhel_9x64",
      nics: 1,
      disks: [
        {
          alias: "web01_Disk1",
          size: size(2 * GiB, 64 * MiB),
          format: "cow",
          iface: "virtio_scsi",
          bootable: true,
          dataMiB: size(80, 2),
          incremental: true,
        },
      ],
      snapshots: [],
    },
    {
      name: "db01",
      description: "PostgreSQL database",
      status: "down",
      memory: 8 * GiB,
      sockets: 4,
      os: "rhel_8x64",
      nics: 2,
      disks: [
        {
          alias: "db01_Disk1",
          size: size(4 * GiB, 128 * MiB),
          format: "cow",
          iface: "virtio_scsi",
          bootable: true,
          dataMiB: size(150, 3),
          incremental: true,
        },
        {
          alias: "db01_Disk2",
          size: size(1 * GiB, 64 * MiB),
          format: "raw",
          iface: "virtio",
          bootable: false,
          dataMiB: size(60, 1),
        },
      ],
      snapshots: [],
    },
    {
      name: "app01",
      description: "Application server with snapshots",
      status: "down",
      memory: 4 * GiB,
      sockets: 2,
      os: "rhel_9x64",
      nics: 1,
      disks: [
        {
          alias: "app01_Disk1",
          size: size(3 * GiB, 96 * MiB),
          format: "cow",
          iface: "virtio_scsi",
          bootable: true,
          dataMiB: size(120, 2),
        },
      ],
      snapshots: [
        { description: "before-upgrade", daysAgo: 20, dataMiB: size(40, 1) },
        { description: "after-upgrade", daysAgo: 5, dataMiB: size(15, 1) },
      ],
    },
  ];
}

/**
 * Writes `mib` MiB of recognisable data into a disk's active chain: a boot area at offset 0, then extents of
 * random (incompressible) and text (compressible) blocks and some allocated zero blocks at random places;
 * with `zeroRanges`, a few zeroed ranges over existing data (zero clusters in a qcow2 overlay).
 */
async function fill(
  e: Engine,
  disk: DiskRec,
  label: BlockLabel,
  mib: number,
  seed: number,
  zeroRanges: boolean,
): Promise<void> {
  const rnd = prng(seed);
  const chain = await openVolumeChain(e.layers(disk), { writable: true });
  try {
    const size = disk.provisionedSize;
    let left = mib * MiB;
    const maxExtent = Math.max(BLOCK, Math.min(8 * MiB, Math.floor(left / 4 / BLOCK) * BLOCK));
    let first = true;
    while (left > 0) {
      const len = Math.min(
        left,
        first ? Math.min(MiB, left) : BLOCK * (1 + Math.floor(rnd(maxExtent / BLOCK))),
      );
      const offset = first ? 0 : Math.floor(rnd((size - len) / BLOCK)) * BLOCK;
      const kind = first ? 100 : rnd(100); // the boot area always starts with a marker
      const data =
        kind < 20
          ? textBlocks(label, offset, len)
          : kind < 25
            ? Buffer.alloc(len)
            : randomBlocks(label, offset, len);
      await chain.write(offset, data);
      left -= len;
      first = false;
    }
    if (zeroRanges) {
      for (let i = 0; i < 3; i++) {
        const len = BLOCK * (1 + Math.floor(rnd(16)));
        const offset = Math.floor(rnd((size - len) / BLOCK)) * BLOCK;
        await chain.zero(offset, len);
      }
    }
    await chain.flush();
  } finally {
    await chain.close();
  }
}

/** Seeds the three demo VMs (ovirt-sim issue: one with two disks, one with two snapshots). */
export async function seedDemo(e: Engine, scale: "demo" | "small"): Promise<void> {
  const sd = e.data.storageDomains[0];
  if (!sd) throw new Error("no storage domain to seed");
  const now = e.now();
  let seed = 1;
  for (const p of plans(scale)) {
    const created = now - 30 * DAY;
    const vm: VmRec = {
      id: newId(),
      name: p.name,
      description: p.description,
      comment: "",
      status: p.status,
      memory: p.memory,
      cpu: { sockets: p.sockets, cores: 1, threads: 1 },
      osType: p.os,
      type: "server",
      biosType: 1,
      creationTime: created,
      clusterId: e.defaultCluster().id,
      generation: 1,
      attachments: [],
      nics: [],
    };
    for (let i = 0; i < p.nics; i++) {
      const n = e.data.nextMac++;
      vm.nics.push({
        id: newId(),
        name: `nic${i + 1}`,
        mac: `56:6f:${[24, 16, 8, 0].map((s) => ((n >>> s) & 0xff).toString(16).padStart(2, "0")).join(":")}`,
        network: i === 0 ? "ovirtmgmt" : "storage-net",
        profile: i === 0 ? "ovirtmgmt" : "storage-net",
        model: 3,
        linked: true,
        plugged: true,
      });
    }
    const activeId = newId();
    e.data.vms.push(vm);
    e.data.snapshots.push({
      id: activeId,
      vmId: vm.id,
      type: "active",
      description: "Active VM",
      date: created,
      status: "ok",
      persistMemory: false,
    });
    const disks: DiskRec[] = [];
    for (const dp of p.disks) {
      const disk: DiskRec = {
        id: newId(),
        alias: dp.alias,
        description: "",
        storageDomainId: sd.id,
        provisionedSize: dp.size,
        status: "ok",
        contentType: "data",
        backup: dp.incremental ? "incremental" : "none",
        shareable: false,
        wipeAfterDelete: false,
        propagateErrors: false,
        creationTime: created,
        volumes: [
          {
            id: newId(),
            parentId: null,
            format: dp.format,
            sparse: true,
            snapshotId: activeId,
            creationTime: created,
          },
        ],
      };
      mkdirSync(e.store.diskDir(sd.id, disk.id), { recursive: true });
      const path = e.volumePath(disk, disk.volumes[0] as DiskRec["volumes"][number]);
      if (dp.format === "cow") await Qcow2Volume.create(path, { size: dp.size });
      else {
        await writeFile(path, "");
        await truncate(path, dp.size);
      }
      e.data.disks.push(disk);
      vm.attachments.push({
        diskId: disk.id,
        interface: dp.iface,
        bootable: dp.bootable,
        active: true,
        readOnly: false,
        passDiscard: false,
        usesScsiReservation: false,
      });
      await fill(e, disk, { vm: vm.name, disk: disk.alias, gen: 0 }, dp.dataMiB, seed++, false);
      disks.push(disk);
    }
    for (const [i, s] of p.snapshots.entries()) {
      const snap = await e.snapshotNow(vm.id, s.description);
      snap.date = now - s.daysAgo * DAY;
      for (const disk of disks) {
        e.activeVolume(disk).creationTime = snap.date;
        await fill(e, disk, { vm: vm.name, disk: disk.alias, gen: i + 1 }, s.dataMiB, seed++, true);
      }
    }
    e.event("normal", 34, `VM ${vm.name} was created by the simulator seed.`, { vmId: vm.id });
  }
  e.save();
}
