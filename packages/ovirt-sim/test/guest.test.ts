import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulator, writeGuestData } from "../src/index";
import { tryLockDataDir } from "../src/store";
import { checkAllVolumes } from "./support/qemu";
import { EngineHttp, type Json, startTestSim, type TestSim } from "./support/sim";

const MiB = 1024 * 1024;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "ovirt-sim-guest-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function markerAt(t: TestSim, diskId: string, offset: number): Promise<string> {
  return (await t.sim.guest.read(diskId, offset, 120)).toString("latin1").split("\n")[0] as string;
}

describe("seed", () => {
  it("creates three demo VMs: one with two disks, one with two snapshots, recognisable data", async () => {
    const t = await startTestSim({}, dir);
    try {
      const vms = (await t.api.ok("/vms")).vm as Json[];
      expect(vms.map((v) => v.name).sort()).toEqual(["app01", "db01", "web01"]);
      for (const vm of vms) {
        const disks = (await t.api.ok(`/vms/${vm.id}/diskattachments?follow=disk`)).disk_attachment.map(
          (a: Json) => a.disk,
        );
        expect(disks.length).toBe(vm.name === "db01" ? 2 : 1);
        for (const d of disks) {
          expect(Number(d.provisioned_size)).toBeGreaterThanOrEqual(64 * MiB);
          expect(Number(d.provisioned_size)).toBeLessThanOrEqual(128 * MiB);
          // app01's snapshots rewrote its boot area (generations 1 and 2).
          expect(await markerAt(t, d.id, 0)).toBe(
            `LIFEBOAT-SIM vm=${vm.name} disk=${d.alias} offset=0x000000000000 gen=${vm.name === "app01" ? 2 : 0}`,
          );
        }
        const regular = (await t.api.ok(`/vms/${vm.id}/snapshots`)).snapshot.filter(
          (s: Json) => s.snapshot_type === "regular",
        );
        expect(regular.map((s: Json) => s.description)).toEqual(
          vm.name === "app01" ? ["before-upgrade", "after-upgrade"] : [],
        );
      }
      const db = vms.find((v) => v.name === "db01");
      const formats = (await t.api.ok(`/vms/${db.id}/diskattachments?follow=disk`)).disk_attachment
        .map((a: Json) => a.disk.format)
        .sort();
      expect(formats).toEqual(["cow", "raw"]);
      // A second simulator cannot take the same data dir.
      await expect(startSimulator({ dataDir: dir })).rejects.toThrow(/in use by a running simulator/);
    } finally {
      await t.sim.stop();
      await t.api.close();
    }
  });
});

describe("guest writes and persistence", () => {
  it("writes through the running simulator, directly when none runs, and keeps everything across restarts", async () => {
    let t = await startTestSim({}, dir);
    const ids = (await t.api.ok("/vms")).vm.map((v: Json) => v.id).sort();
    const viaSim = await writeGuestData({ dataDir: dir, vmName: "db01", mib: 4, seed: 7 });
    expect(viaSim.via).toBe("sim");
    expect(viaSim.bytes).toBe(4 * MiB);
    const first = viaSim.disks[0];
    const vol = t.sim.state.disk(first?.diskId ?? "")?.volumes.at(-1)?.id;
    expect(first?.volumeId).toBe(vol);
    const off = first?.ranges[0]?.offset ?? 0;
    expect(await markerAt(t, first?.diskId ?? "", off)).toMatch(
      /^LIFEBOAT-SIM vm=db01 disk=db01_Disk\d offset=0x[0-9a-f]{12} gen=w/,
    );
    await t.sim.stop();
    await t.api.close();

    // No simulator: the write goes to the files, under the data dir lock.
    const direct = await writeGuestData({ dataDir: dir, vmName: "app01", mib: 2, seed: 9 });
    expect(direct.via).toBe("direct");
    await expect(writeGuestData({ dataDir: dir, vmName: "nope", mib: 1 })).rejects.toThrow(/nope/);
    const lock = tryLockDataDir(dir, "write");
    if (!("release" in lock)) throw new Error("lock unexpectedly held");
    await expect(writeGuestData({ dataDir: dir, vmName: "app01", mib: 1, waitMs: 200 })).rejects.toThrow(
      /busy/,
    );
    lock.release();
    // A stale sim.json (dead process) is ignored.
    await writeFile(
      path.join(dir, "sim.json"),
      JSON.stringify({
        pid: 2 ** 22 + 12345,
        adminUrl: "https://127.0.0.1:1/x",
        adminToken: "x",
        caFile: "x",
        http: false,
      }),
    );
    expect((await writeGuestData({ dataDir: dir, vmName: "web01", mib: 1 })).via).toBe("direct");
    await rm(path.join(dir, "sim.json"));

    t = await startTestSim({}, dir);
    try {
      expect((await t.api.ok("/vms")).vm.map((v: Json) => v.id).sort()).toEqual(ids);
      const d = direct.disks[0];
      expect(await markerAt(t, d?.diskId ?? "", d?.ranges[0]?.offset ?? 0)).toMatch(
        /^LIFEBOAT-SIM vm=app01 /,
      );
      expect(await markerAt(t, first?.diskId ?? "", off)).toMatch(/^LIFEBOAT-SIM vm=db01 /);
      // An operation pending at stop completes after the restart.
      const web = await t.api.vmByName("web01");
      await t.sim.stop();
      const slow = await startSimulator({ dataDir: dir, asyncDelayMs: 60_000, transferPollMs: 40 });
      const api = new EngineHttp(slow);
      const snap = await api.post(`/vms/${web.id}/snapshots`, {
        description: "interrupted",
        persist_memorystate: "false",
      });
      expect(snap.status).toBe(201);
      await api.close();
      await slow.stop();
      const state = JSON.parse(await readFile(path.join(dir, "state.json"), "utf8"));
      expect(state.snapshots.find((s: Json) => s.id === snap.json.id).status).toBe("locked");
      t = await startTestSim({}, dir);
      await t.api.waitFor(`/vms/${web.id}/snapshots/${snap.json.id}`, (j) => j.snapshot_status === "ok");
      expect((await t.api.ok(`/vms/${web.id}`)).status).toBe("up");
    } finally {
      await t.sim.stop();
      await t.api.close();
    }
    const counts = await checkAllVolumes(dir);
    expect(counts.qcow2).toBeGreaterThanOrEqual(5);
    expect(counts.raw).toBe(1);
  });
});
