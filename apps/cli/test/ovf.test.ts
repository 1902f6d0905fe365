import { writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@lifeboat/disk-image/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lifeboat } from "./support/run-cli";

/** Copies of two of ovirt-core's OVF fixtures (test/fixtures/ovf there): OVFs as engines 4.5 and 4.2 write them. */
const fixtures = path.resolve(import.meta.dirname, "fixtures/ovf");
let root: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  root = await tempDir("lifeboat-cli-ovf-");
});
afterAll(async () => {
  await root.cleanup();
});

interface OvfInfoJson {
  vm: { id: string; name: string; os: string };
  disks: Array<{
    diskId: string;
    alias: string;
    interface: string;
    boot: boolean;
    volumes: Array<{ imageId: string; parentId: string | null; format: string }>;
  }>;
  nics: Array<{ name: string; network: string; mac: string }>;
  snapshots: Array<{ id: string; type: string; description: string; date: string }>;
}

describe("lifeboat ovf info", () => {
  it("--json gives the restore contract: vm, disks with volumes base → top, nics, snapshots", async () => {
    const r = await lifeboat(["ovf", "info", "engine-4.5-oneline.ovf", "--json"], { INIT_CWD: fixtures });
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as OvfInfoJson;
    expect(info.vm).toMatchObject({
      id: "3f1c0a2e-0000-4000-8000-00000000a001",
      name: "app01",
      os: "rhel_9x64",
    });
    expect(info.disks.map((d) => [d.diskId, d.alias, d.interface, d.boot])).toEqual([
      ["d1a00000-0000-4000-8000-00000000000a", "app01_Disk1", "virtio_scsi", true],
      ["d1b00000-0000-4000-8000-00000000000b", "app01_Disk2", "virtio", false],
    ]);
    const volumes = info.disks[0]?.volumes ?? [];
    expect(volumes.map((v) => v.imageId)).toEqual(
      [1, 2, 3].map((i) => `a1000000-0000-4000-8000-00000000000${i}`),
    );
    expect(volumes.map((v) => v.parentId)).toEqual([null, volumes[0]?.imageId, volumes[1]?.imageId]);
    expect(volumes.map((v) => v.format)).toEqual(["cow", "cow", "cow"]);
    expect(info.nics).toEqual([
      expect.objectContaining({ name: "nic1", network: "ovirtmgmt", mac: "56:6f:3a:b1:00:01" }),
      expect.objectContaining({ name: "nic2", network: "storage-net", mac: "56:6f:3a:b1:00:02" }),
    ]);
    expect(info.snapshots.map((s) => [s.type, s.description, s.date])).toEqual([
      ["active", "Active VM", "2024-03-01T08:00:00.000Z"],
      ["regular", "before-upgrade", "2024-04-02T10:15:00.000Z"],
      ["regular", "after-upgrade", "2024-05-06T12:30:00.000Z"],
    ]);
  });

  it("prints readable lines, and exits 1 on hostile XML, 2 without a file", async () => {
    await writeFile(
      path.join(root.dir, "bomb.ovf"),
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>',
    );
    const [text, bomb, usage] = await Promise.all([
      lifeboat(["ovf", "info", path.join(fixtures, "engine-4.2-slashless.ovf")]),
      lifeboat(["ovf", "info", "bomb.ovf", "--json"], { INIT_CWD: root.dir }),
      lifeboat(["ovf", "info"]),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^VM legacy42 \(42424242-0000-4000-8000-0000000000aa\), OS rhel_7x64$/m);
    expect(text.stdout).toMatch(
      /^disk legacy42_Disk1 7c1d0000-0000-4000-8000-0000000000d1 image virtio_scsi boot$/m,
    );
    expect(bomb.code).toBe(1);
    expect(bomb.stderr).toMatch(/^lifeboat: OVF must not contain a DOCTYPE .*\n$/);
    expect(usage.code).toBe(2);
  });
});
