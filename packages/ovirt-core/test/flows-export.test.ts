import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import type { Repository, RestorePointManifest } from "@lifeboat/repository";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BackupResult,
  backupVm,
  type DiskImageExport,
  openDiskImageExport,
  restoreDisk,
} from "../src/flows";
import {
  activeVolumePath,
  engineLeftovers,
  type FlowHarness,
  guestOf,
  qemuImg,
  qemuInfo,
  qemuSame,
  startHarness,
} from "./flows-support/harness";

const run = promisify(execFile);
const MiB = 1024 * 1024;

let h: FlowHarness;
let repo: Repository;
let point: BackupResult;
let diskId: string;

beforeAll(async () => {
  h = await startHarness();
  repo = await h.newRepository("export");
  point = await backupVm({
    engine: h.engine,
    imageio: h.imageio,
    vmId: h.sim.state.vm("app01")?.id ?? "",
    repository: repo,
    restorePointId: randomUUID(),
    jobRef: "export",
  });
  diskId = point.disks[0]?.diskId ?? "";
}, 60_000);
afterAll(async () => {
  await h?.stop();
}, 60_000);

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function save(ex: DiskImageExport, file: string): Promise<void> {
  await pipeline(ex.read(0, ex.size - 1), createWriteStream(file));
}

/** `qemu-img check` as JSON; qemu-img exits non-zero on errors or leaks, which fails the test with its words. */
async function qemuCheck(file: string) {
  return JSON.parse(await qemuImg("check", "--output=json", file)) as Record<string, number>;
}

/** Ranged reads of an export equal the same slices of the full read: edges, cluster borders, random spans. */
async function expectRangesMatch(ex: DiskImageExport, full: Buffer) {
  const size = ex.size;
  const spans: Array<[number, number]> = [
    [0, 0],
    [0, 511],
    [size - 1, size - 1],
    [65_535, 65_536],
    [size - 200_000, size - 1],
  ];
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 12; i++) {
    const start = rnd(size);
    spans.push([start, Math.min(size - 1, start + rnd(6 * MiB))]);
  }
  for (const [start, end] of spans) {
    const got = await collect(ex.read(start, end));
    expect(got.length, `${start}-${end}`).toBe(end - start + 1);
    expect(got.equals(full.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
  }
  expect(() => ex.read(0, size)).toThrow(RangeError);
}

describe("disk image export of a multi-layer disk", { timeout: 120_000 }, () => {
  it("raw: the flattened chain, equal to the disk's guest data; ranges are slices of it", async () => {
    const ex = await openDiskImageExport(repo, point.restorePoint, diskId, "raw");
    try {
      expect(ex.size).toBe(h.sim.state.disk(diskId)?.provisionedSize);
      expect(ex.fileName).toBe("app01_Disk1.raw");
      const file = path.join(h.dir, "export.raw");
      await save(ex, file);
      expect(await qemuSame(file, activeVolumePath(h.sim, diskId))).toBe(true);
      const full = await readFile(file);
      expect(full.equals(await guestOf(h.sim, diskId))).toBe(true);
      await expectRangesMatch(ex, full);
    } finally {
      await ex.close();
    }
  });

  it("qcow2: a standalone image that passes qemu-img check and compares equal; ranges are slices of it", async () => {
    const ex = await openDiskImageExport(repo, point.restorePoint, diskId, "qcow2");
    try {
      expect(ex.fileName).toBe("app01_Disk1.qcow2");
      const file = path.join(h.dir, "export.qcow2");
      await save(ex, file);
      const check = await qemuCheck(file);
      expect(check["check-errors"]).toBe(0);
      expect(check.corruptions ?? 0).toBe(0);
      expect(check.leaks ?? 0).toBe(0);
      expect(check["image-end-offset"]).toBe(ex.size);
      const info = await qemuInfo(file);
      expect(info.format).toBe("qcow2");
      expect(info["backing-filename"]).toBeUndefined();
      expect(await qemuSame(file, activeVolumePath(h.sim, diskId))).toBe(true);
      // Zero ranges stay unallocated: far smaller than the disk.
      expect(ex.size).toBeLessThan((h.sim.state.disk(diskId)?.provisionedSize ?? 0) / 4);
      await expectRangesMatch(ex, await readFile(file));
    } finally {
      await ex.close();
    }
  });

  it("qcow2 of a larger sparse chain made by qemu-img: several L2 tables, zeroed ranges, data past 2 GiB", async () => {
    const dir = h.dir;
    const base = path.join(dir, "big-base.qcow2");
    const top = path.join(dir, "big-top.qcow2");
    await qemuImg("create", "-q", "-f", "qcow2", base, "3G");
    await run("qemu-io", [
      "-f",
      "qcow2",
      "-c",
      "write -P 0x11 0 1M",
      "-c",
      "write -P 0x22 1536M 3M",
      "-c",
      "write -P 0x33 3071M 1M",
      base,
    ]);
    await qemuImg("create", "-q", "-f", "qcow2", "-b", "big-base.qcow2", "-F", "qcow2", top);
    await run("qemu-io", [
      "-f",
      "qcow2",
      "-c",
      "write -P 0x44 600M 2M",
      "-c",
      "write -z 1537M 1M",
      "-c",
      "write -P 0x55 3071M 64k",
      top,
    ]);
    const layers = [];
    let parent: string | null = null;
    for (const f of [base, top]) {
      const imageId = randomUUID();
      const w = await repo.writeLayer(createReadStream(f), { imageId, format: "cow" });
      layers.push({
        imageId,
        parentImageId: parent,
        format: "cow" as const,
        virtualSize: 3 * 1024 * MiB,
        layerId: w.layerId,
        sha256: w.manifest.sha256,
        size: w.manifest.size,
      });
      parent = imageId;
    }
    const manifest: RestorePointManifest = await repo.writeRestorePoint({
      vm: { id: randomUUID(), name: "big" },
      engine: { url: "https://engine.invalid/ovirt-engine/api" },
      ovf: "",
      disks: [{ diskId: "big-disk", alias: "big disk", layers }],
    });
    const ex = await openDiskImageExport(repo, manifest, "big-disk", "qcow2");
    try {
      expect(ex.fileName).toBe("big_disk.qcow2");
      const file = path.join(dir, "big-export.qcow2");
      await save(ex, file);
      const check = await qemuCheck(file);
      expect([check["check-errors"], check.corruptions ?? 0, check.leaks ?? 0]).toEqual([0, 0, 0]);
      expect(await qemuSame(file, top)).toBe(true);
      const map = JSON.parse(await qemuImg("map", "--output=json", file)) as Array<{
        start: number;
        length: number;
        data: boolean;
      }>;
      const dataBytes = map.filter((m) => m.data).reduce((s, m) => s + m.length, 0);
      // 1 + 3 + 1 MiB in the base, 2 MiB more on top, 1 MiB of the base zeroed again on top.
      expect(dataBytes).toBe(6 * MiB);
    } finally {
      await ex.close();
    }
    const raw = await openDiskImageExport(repo, manifest, "big-disk", "raw");
    try {
      const at = 1536 * MiB;
      const got = await collect(raw.read(at, at + 3 * MiB - 1));
      expect(got.subarray(0, MiB).every((b) => b === 0x22)).toBe(true);
      expect(got.subarray(MiB, 2 * MiB).every((b) => b === 0)).toBe(true);
      expect(got.subarray(2 * MiB).every((b) => b === 0x22)).toBe(true);
    } finally {
      await raw.close();
    }
  });
});

describe("disk image export of a raw disk that begins with qcow2 bytes", { timeout: 60_000 }, () => {
  it("stays raw: the catalog's format decides, not the first bytes", async () => {
    // A guest that keeps a qcow2 image at the start of a raw disk (a nested hypervisor, an image store).
    const inner = path.join(h.dir, "inner.qcow2");
    await qemuImg("create", "-q", "-f", "qcow2", inner, "64M");
    await run("qemu-io", ["-f", "qcow2", "-c", "write -P 0x5a 0 1M", inner]);
    const rawDisk = path.join(h.dir, "outer.raw");
    await qemuImg("create", "-q", "-f", "raw", rawDisk, "16M");
    await run("dd", [`if=${inner}`, `of=${rawDisk}`, "conv=notrunc", "status=none"]);
    // The trap: probing the bytes alone, as qemu-img does without -f, calls this disk a qcow2.
    expect((await qemuInfo(rawDisk)).format).toBe("qcow2");
    const imageId = randomUUID();
    const w = await repo.writeLayer(createReadStream(rawDisk), { imageId, format: "raw" });
    const manifest = await repo.writeRestorePoint({
      vm: { id: randomUUID(), name: "nested" },
      engine: { url: "https://engine.invalid/ovirt-engine/api" },
      ovf: "",
      disks: [
        {
          diskId: "nested-disk",
          alias: "nested",
          layers: [
            {
              imageId,
              parentImageId: null,
              format: "raw",
              virtualSize: 16 * MiB,
              layerId: w.layerId,
              sha256: w.manifest.sha256,
              size: w.manifest.size,
            },
          ],
        },
      ],
    });
    const ex = await openDiskImageExport(repo, manifest, "nested-disk", "raw");
    try {
      expect(ex.size).toBe(16 * MiB);
      const file = path.join(h.dir, "nested-export.raw");
      await save(ex, file);
      expect((await readFile(file)).equals(await readFile(rawDisk))).toBe(true);
    } finally {
      await ex.close();
    }
  });
});

describe("restore of a single disk as a floating disk", { timeout: 120_000 }, () => {
  for (const format of ["cow", "raw"] as const) {
    it(`flattened into a new ${format} disk holding the disk's guest data`, async () => {
      const disksBefore = h.sim.state.disks().length;
      const r = await restoreDisk({
        engine: h.engine,
        imageio: h.imageio,
        repository: repo,
        restorePoint: point.restorePoint,
        diskId,
        target: { alias: `app01-disk-${format}`, format, storageDomain: { name: "data2" } },
      });
      const disk = h.sim.state.disk(r.diskId);
      expect(disk?.alias).toBe(`app01-disk-${format}`);
      expect(disk?.volumes.map((v) => v.format)).toEqual([format]);
      expect(h.sim.state.storageDomains().find((s) => s.id === disk?.storageDomainId)?.name).toBe("data2");
      expect(h.sim.state.disks().length).toBe(disksBefore + 1);
      expect((await guestOf(h.sim, r.diskId)).equals(await guestOf(h.sim, diskId))).toBe(true);
      expect(engineLeftovers(h.sim)).toEqual([]);
    });
  }
});
