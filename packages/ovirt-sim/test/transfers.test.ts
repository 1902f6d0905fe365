import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addDisk, downloadAll, finalize, startTransfer, uploadAll } from "./support/flows";
import { qemuInfo } from "./support/qemu";
import { io, type Json, startTestSim, type TestSim } from "./support/sim";

const run = promisify(execFile);
const MiB = 1024 * 1024;
let t: TestSim;
let tmp: string;

beforeAll(async () => {
  t = await startTestSim();
  tmp = path.join(t.dir, "client");
  await run("mkdir", ["-p", tmp]);
});
afterAll(async () => {
  const counts = await t.stop();
  expect(counts.qcow2).toBeGreaterThan(0);
});

async function diskOf(vmName: string, index = 0): Promise<Json> {
  const vm = await t.api.vmByName(vmName);
  const atts = await t.api.ok(`/vms/${vm.id}/diskattachments?follow=disk`);
  return atts.disk_attachment[index].disk;
}

async function qcow2File(
  name: string,
  size: number,
  data: Array<[number, Buffer]>,
  backing?: string,
): Promise<string> {
  const raw = path.join(tmp, `${name}.raw`);
  const img = path.join(tmp, name);
  const buf = Buffer.alloc(size);
  for (const [off, d] of data) d.copy(buf, off);
  await writeFile(raw, buf);
  await rm(img, { force: true });
  await run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, img]);
  if (backing) await run("qemu-img", ["rebase", "-u", "-f", "qcow2", "-b", backing, "-F", "qcow2", img]);
  return img;
}

describe("image transfers: downloads", () => {
  it("downloads a snapshot layer with the file backend: the volume file as is, then finishes and stays visible", async () => {
    const disk = await diskOf("app01");
    const snaps = await t.api.ok(`/disks/${disk.id}/disksnapshots`);
    const base = snaps.disk_snapshot.find((s: Json) => !s.parent);
    const tr = await startTransfer(t.api, { direction: "download", snapshot: { id: base.id } });
    expect(tr.phase).toBe("transferring");
    expect(tr.transfer_url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/images\/[0-9a-f-]{36}$/);
    expect(tr.proxy_url.split("/images/")[1]).toBe(tr.transfer_url.split("/images/")[1]);
    expect(tr.transfer_url.split("/images/")[1]).not.toBe(tr.id);
    expect(tr.snapshot).toEqual({ id: base.id });
    expect((await t.api.ok(`/disks/${disk.id}`)).status).toBe("locked");
    const got = await downloadAll(t.api.agent, tr.transfer_url);
    const vol = t.sim.state.volumes(disk.id).find((v) => v.id === base.id);
    expect(got.equals(await readFile(vol?.path as string))).toBe(true);
    const done = await finalize(t.api, tr.id);
    expect(done.phase).toBe("finished_success");
    expect((await t.api.ok(`/disks/${disk.id}`)).status).toBe("ok");
    // 4.4.7+: the finished entity stays queryable.
    expect((await t.api.get(`/imagetransfers/${tr.id}`)).status).toBe(200);
  });

  it("serves guest data for format=raw, with extents; shallow exports one layer with holes", async () => {
    const disk = await diskOf("app01");
    const snaps = await t.api.ok(`/disks/${disk.id}/disksnapshots?include_active=true`);
    const active = disk.image_id;
    const tr = await startTransfer(t.api, { direction: "download", disk: { id: disk.id }, format: "raw" });
    const size = Number(disk.provisioned_size);
    const opts = await io(t.api.agent, "OPTIONS", tr.transfer_url);
    expect(JSON.parse(opts.body.toString())).toEqual({
      features: ["checksum", "extents"],
      max_readers: 8,
      max_writers: 8,
    });
    const ext = JSON.parse((await io(t.api.agent, "GET", `${tr.transfer_url}/extents`)).body.toString());
    expect(ext[0].start).toBe(0);
    expect(ext.reduce((s: number, e: Json) => s + e.length, 0)).toBe(size);
    expect(ext.some((e: Json) => e.zero && e.hole)).toBe(true);
    expect(ext.some((e: Json) => !e.zero)).toBe(true);
    const got = await downloadAll(t.api.agent, tr.transfer_url);
    expect(got.length).toBe(size);
    expect(got.equals(await t.sim.guest.read(disk.id, 0, size))).toBe(true);
    // Zero extents read as zeroes.
    for (const e of ext.filter((x: Json) => x.zero))
      expect(got.subarray(e.start, e.start + e.length).every((b) => b === 0)).toBe(true);
    await finalize(t.api, tr.id);

    const mid = snaps.disk_snapshot.find((s: Json) => s.parent && s.id !== active);
    const sh = await startTransfer(t.api, {
      direction: "download",
      snapshot: { id: mid.id },
      format: "raw",
      shallow: "true",
    });
    expect(sh.shallow).toBe("true");
    const sext = JSON.parse((await io(t.api.agent, "GET", `${sh.transfer_url}/extents`)).body.toString());
    const holes = sext.filter((e: Json) => e.hole);
    expect(holes.length).toBeGreaterThan(0);
    const data = await downloadAll(t.api.agent, sh.transfer_url);
    for (const h of holes)
      expect(data.subarray(h.start, h.start + h.length).every((b) => b === 0)).toBe(true);
    await finalize(t.api, sh.id);
  });

  it("uses the ticket size rules: cow file download = file size, raw/NBD = virtual size", async () => {
    const disk = await diskOf("web01");
    const vol = t.sim.state.volumes(disk.id)[0];
    const fileSize = (await readFile(vol?.path as string)).length;
    const f = await startTransfer(t.api, { direction: "download", disk: { id: disk.id } });
    const r = await io(t.api.agent, "GET", f.transfer_url, { headers: { range: "bytes=0-15" } });
    expect(r.status).toBe(206);
    expect(r.headers["content-range"]).toBe(`bytes 0-15/${fileSize}`);
    await finalize(t.api, f.id);
    const n = await startTransfer(t.api, { direction: "download", disk: { id: disk.id }, format: "raw" });
    const r2 = await io(t.api.agent, "GET", n.transfer_url, { headers: { range: "bytes=0-15" } });
    expect(r2.headers["content-range"]).toBe(`bytes 0-15/${disk.provisioned_size}`);
    await finalize(t.api, n.id);
  });
});

describe("image transfers: uploads and verification", () => {
  const size = 16 * MiB;

  async function newDisk(format: "cow" | "raw", extra: Record<string, unknown> = {}): Promise<Json> {
    return addDisk(t.api, {
      name: `up-${randomBytes(3).toString("hex")}`,
      provisioned_size: String(size),
      format,
      sparse: "true",
      storage_domains: { storage_domain: [{ name: "data1" }] },
      ...extra,
    });
  }

  it("accepts a qcow2 upload whose header matches the volume, and the guest sees the data", async () => {
    const payload = randomBytes(3 * MiB);
    const img = await qcow2File("good.qcow2", size, [[5 * MiB, payload]]);
    const disk = await newDisk("cow");
    const tr = await startTransfer(t.api, { direction: "upload", disk: { id: disk.id } });
    const opts = JSON.parse((await io(t.api.agent, "OPTIONS", tr.transfer_url)).body.toString());
    expect(opts).toEqual({
      features: ["checksum", "extents", "flush", "zero"],
      max_readers: 8,
      max_writers: 1,
    });
    await uploadAll(t.api.agent, tr.transfer_url, await readFile(img));
    const done = await finalize(t.api, tr.id);
    expect(done.phase).toBe("finished_success");
    const d = await t.api.ok(`/disks/${disk.id}`);
    expect(d.status).toBe("ok");
    expect((await t.sim.guest.read(disk.id, 5 * MiB, payload.length)).equals(payload)).toBe(true);
  });

  const failures: Array<[string, "cow" | "raw", () => Promise<Buffer>]> = [
    ["raw bytes into a cow volume", "cow", async () => randomBytes(2 * MiB)],
    ["qcow2 into a raw volume", "raw", async () => readFile(await qcow2File("q-for-raw.qcow2", size, []))],
    [
      "a virtual size above the capacity",
      "cow",
      async () => readFile(await qcow2File("big.qcow2", 2 * size, [])),
    ],
    [
      "a backing name on a base volume",
      "cow",
      async () => readFile(await qcow2File("backed.qcow2", size, [], "00000000-0000-4000-8000-000000000001")),
    ],
  ];
  for (const [what, format, make] of failures) {
    it(`fails verification for ${what}: finished_failure, disk illegal, then removed`, async () => {
      const disk = await newDisk(format);
      const tr = await startTransfer(t.api, { direction: "upload", disk: { id: disk.id } });
      await uploadAll(t.api.agent, tr.transfer_url, await make());
      const done = await finalize(t.api, tr.id);
      expect(done.phase).toBe("finished_failure");
      await t.api.waitFor(`/disks/${disk.id}`, (_j, status) => status === 404);
      expect(t.sim.state.events().some((e) => e.description.includes("Image verification failed"))).toBe(
        true,
      );
    });
  }

  it("checks the backing name of a layer upload against the parent volume id", async () => {
    const disk = await newDisk("cow");
    const vmAdd = await t.api.post("/vms", {
      name: `layers-${randomBytes(2).toString("hex")}`,
      cluster: { name: "Default" },
    });
    expect(vmAdd.status).toBe(201);
    expect(
      (
        await t.api.post(`/vms/${vmAdd.json.id}/diskattachments`, {
          disk: { id: disk.id },
          interface: "virtio_scsi",
          bootable: "false",
          active: "true",
        })
      ).status,
    ).toBe(201);
    const layerId = "0badc0de-0000-4000-8000-000000000001";
    const snap = await t.api.post(`/vms/${vmAdd.json.id}/snapshots`, {
      description: "layer 2",
      persist_memorystate: "false",
      disk_attachments: { disk_attachment: [{ disk: { id: disk.id, image_id: layerId } }] },
    });
    expect(snap.status).toBe(201);
    await t.api.waitFor(`/vms/${vmAdd.json.id}/snapshots/${snap.json.id}`, (j) => j.snapshot_status === "ok");
    expect((await t.api.ok(`/disks/${disk.id}`)).image_id).toBe(layerId);
    // A layer whose backing name is the parent's path, not the bare UUID, fails.
    const wrong = await qcow2File(
      "layer-wrong.qcow2",
      size,
      [[0, randomBytes(MiB)]],
      `/rhev/images/${disk.image_id}`,
    );
    const tr = await startTransfer(t.api, { direction: "upload", snapshot: { id: layerId } });
    await uploadAll(t.api.agent, tr.transfer_url, await readFile(wrong));
    expect((await finalize(t.api, tr.id)).phase).toBe("finished_failure");
    await t.api.waitFor(`/disks/${disk.id}`, (_j, status) => status === 404);
  });

  it("writes guest data through NBD for format=raw uploads into a qcow2 volume (PUT, PATCH zero, flush)", async () => {
    const disk = await newDisk("cow");
    const tr = await startTransfer(t.api, { direction: "upload", disk: { id: disk.id }, format: "raw" });
    const data = randomBytes(3 * MiB + 4096);
    const put = await io(t.api.agent, "PUT", `${tr.transfer_url}?flush=n`, {
      headers: { "content-range": `bytes ${MiB + 512}-${MiB + 512 + data.length - 1}/*` },
      body: data,
    });
    expect(put.status).toBe(200);
    const z = await io(t.api.agent, "PATCH", tr.transfer_url, {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ op: "zero", offset: 2 * MiB, size: 100_000, flush: true }),
    });
    expect(z.status).toBe(200);
    expect((await finalize(t.api, tr.id)).phase).toBe("finished_success");
    const expected = Buffer.from(data);
    expected.fill(0, 2 * MiB - (MiB + 512), 2 * MiB - (MiB + 512) + 100_000);
    expect((await t.sim.guest.read(disk.id, MiB + 512, data.length)).equals(expected)).toBe(true);
    const vol = t.sim.state.volumes(disk.id)[0];
    expect((await qemuInfo(vol?.path as string)).format).toBe("qcow2");
  });

  it("deletes the disk when an upload is cancelled (cancelled_user → finalizing_cleanup → finished_cleanup → finished_failure)", async () => {
    const disk = await newDisk("raw");
    const tr = await startTransfer(t.api, { direction: "upload", disk: { id: disk.id } });
    expect((await t.api.post(`/imagetransfers/${tr.id}/cancel`, {})).json).toEqual({ status: "complete" });
    const seen = new Set<string>();
    await t.api.waitFor(`/imagetransfers/${tr.id}`, (j) => {
      seen.add(j.phase);
      return j.phase === "finished_failure";
    });
    expect(seen.has("finished_failure")).toBe(true);
    await t.api.waitFor(`/disks/${disk.id}`, (_j, status) => status === 404);
    const r = await io(t.api.agent, "GET", tr.transfer_url, { headers: { range: "bytes=0-1" } });
    expect(r.status).toBe(403);
  });

  it("keeps cow uploads on block storage within the LV size given by initial_size", async () => {
    const sparseRaw = await t.api.post("/disks", {
      name: "blk-raw",
      provisioned_size: String(size),
      format: "raw",
      sparse: "true",
      storage_domains: { storage_domain: [{ name: "data2" }] },
    });
    expect(sparseRaw.status).toBe(409);
    expect(sparseRaw.json.detail).toMatch(/RAW Sparse.*incompatible with the storage domain type/);
    const disk = await newDisk("cow", {
      provisioned_size: String(4 * 1024 * MiB),
      initial_size: String(MiB),
      storage_domains: { storage_domain: [{ name: "data2" }] },
    });
    const tr = await startTransfer(t.api, { direction: "upload", disk: { id: disk.id } });
    const lv = 128 * MiB;
    const past = await io(t.api.agent, "PUT", tr.transfer_url, {
      headers: { "content-range": `bytes ${lv - 10}-${lv + 9}/*` },
      body: Buffer.alloc(20),
    });
    expect(past.status).toBe(416);
    expect(past.headers.connection).toBe("close");
    await t.api.post(`/imagetransfers/${tr.id}/cancel`, {});
    await t.api.waitFor(`/disks/${disk.id}`, (_j, status) => status === 404);
  });
});
