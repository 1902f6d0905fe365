import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OvfError, readOvf } from "../src/ovf/read";
import { addDisk } from "./support/flows";
import { type Json, startTestSim, type TestSim } from "./support/sim";

let t: TestSim;

beforeAll(async () => {
  t = await startTestSim();
});
afterAll(async () => {
  await t.stop();
});

async function ovfOf(name: string): Promise<{ vm: Json; ovf: string }> {
  const vm = await t.api.vmByName(name);
  const full = await t.api.ok(`/vms/${vm.id}?all_content=true`);
  return { vm: full, ovf: full.initialization.configuration.data };
}

const attr = (tag: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(tag)?.[1];

describe("OVF in the engine's dialect", () => {
  it("is one line with the engine's prefixes, one File/Disk/Item per volume and the snapshot section", async () => {
    const { vm, ovf } = await ovfOf("app01");
    expect(ovf).not.toContain("\n");
    expect(
      ovf.startsWith(
        '<?xml version="1.0" encoding="UTF-8"?><ovf:Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1/" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ovf:version="4.4.0.0"><References><File ',
      ),
    ).toBe(true);
    expect(ovf).not.toMatch(/<[A-Za-z:]+\/>/); // empty values are written <X></X>
    const disk = (await t.api.ok(`/vms/${vm.id}/diskattachments?follow=disk`)).disk_attachment[0].disk;
    const chain = (await t.api.ok(`/disks/${disk.id}/disksnapshots?include_active=true`)).disk_snapshot;
    const files = ovf.match(/<File [^>]*>/g) ?? [];
    const disks = ovf.match(/<Disk [^>]*>/g) ?? [];
    expect(files).toHaveLength(3);
    expect(disks).toHaveLength(3);
    // Leaf first; File ids = Disk ids = volume ids; href = disk/volume.
    expect(attr(files[0] as string, "ovf:id")).toBe(disk.image_id);
    expect(attr(files[0] as string, "ovf:description")).toBe("Active VM");
    for (const f of files) {
      const id = attr(f, "ovf:id") as string;
      expect(attr(f, "ovf:href")).toBe(`${disk.id}/${id}`);
      expect(chain.map((c: Json) => c.id)).toContain(id);
    }
    const descriptions = files.map((f) => attr(f, "ovf:description")).sort();
    expect(descriptions).toEqual(["Active VM", "after-upgrade", "before-upgrade"]);
    // Each volume names its owning snapshot; the parentRef quirk points at the first volume's href.
    const snaps = (await t.api.ok(`/vms/${vm.id}/snapshots`)).snapshot;
    for (const d of disks) {
      const volId = attr(d, "ovf:diskId");
      const vol = chain.find((c: Json) => c.id === volId);
      expect(attr(d, "ovf:vm_snapshot_id")).toBe(vol.snapshot.id);
      expect(snaps.map((s: Json) => s.id)).toContain(vol.snapshot.id);
      expect(attr(d, "ovf:volume-format")).toBe("COW");
      expect(attr(d, "ovf:disk-interface")).toBe("VirtIO_SCSI");
      expect(attr(d, "ovf:parentRef")).toBe(vol.parent ? `${disk.id}/${disk.image_id}` : "");
    }
    // rasd:Parent carries the real chain.
    for (const c of chain) {
      const parent = c.parent?.id ?? "00000000-0000-0000-0000-000000000000";
      expect(ovf).toContain(
        `<rasd:InstanceId>${c.id}</rasd:InstanceId><rasd:ResourceType>17</rasd:ResourceType><rasd:HostResource>${disk.id}/${c.id}</rasd:HostResource><rasd:Parent>${parent}</rasd:Parent>`,
      );
    }
    const section = /<Section xsi:type="ovf:SnapshotsSection_Type">(.*?)<\/Section>/.exec(ovf)?.[1] ?? "";
    expect(section.match(/<Type>ACTIVE<\/Type>/g)).toHaveLength(1);
    const configs = [...section.matchAll(/<VmConfiguration>([^<]*)<\/VmConfiguration>/g)].map((m) =>
      Buffer.from(m[1] as string, "base64").toString("utf8"),
    );
    expect(configs).toHaveLength(2);
    for (const c of configs) {
      expect(c.startsWith('<?xml version="1.0" encoding="UTF-8"?><ovf:Envelope')).toBe(true);
      expect(c.match(/<File /g)).toHaveLength(1);
      expect(c).not.toContain("rasd:StorageId");
    }
    const parsed = readOvf(ovf);
    expect(parsed.vmId).toBe(vm.id);
    expect(parsed.disks).toEqual([
      expect.objectContaining({
        diskId: disk.id,
        leafVolumeId: disk.image_id,
        bootable: true,
        interface: "virtio_scsi",
      }),
    ]);
  });

  it("rejects what the engine's importer cannot read", () => {
    expect(() => readOvf("<not-xml")).toThrow(OvfError);
    expect(() => readOvf('<?xml version="1.0"?><ovf:Envelope xmlns:ovf="x"></ovf:Envelope>')).toThrow(
      /Content/,
    );
    const noOsId =
      '<ovf:Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Content><Name>x</Name><Section xsi:type="ovf:OperatingSystemSection_Type"></Section></Content></ovf:Envelope>';
    expect(() => readOvf(noOsId)).toThrow(/OVF error: x: cannot read/);
    const defaultNs = noOsId.replace("<ovf:Envelope ", '<ovf:Envelope xmlns="urn:x" ');
    expect(() => readOvf(defaultNs)).toThrow(/Content/);
  });
});

describe("POST /vms with an OVF configuration", () => {
  it("refuses an existing id or name, and duplicate MACs unless regenerate_ids", async () => {
    const { ovf } = await ovfOf("web01");
    const body = (extra: Json = {}) => ({
      cluster: { name: "Default" },
      initialization: { configuration: { type: "ovf", data: ovf }, ...(extra.init ?? {}) },
      ...(extra.name ? { name: extra.name } : {}),
    });
    const sameId = await t.api.post("/vms", body({ name: "web01-copy" }));
    expect(sameId.status).toBe(409);
    expect(sameId.json.detail).toBe("[Cannot import VM. VM with the same identifier already exists.]");
    const otherId = ovf.replace(
      /ovf:id="([0-9a-f-]{36})" ovf:required="false"/,
      'ovf:id="0be1d000-0000-4000-8000-000000000001" ovf:required="false"',
    );
    const macClash = await t.api.post("/vms", {
      name: "web01-mac",
      cluster: { name: "Default" },
      initialization: { configuration: { type: "ovf", data: otherId } },
    });
    expect(macClash.status).toBe(409);
    expect(macClash.json.detail).toMatch(
      /^\[Cannot import VM\. MAC Address 56:6f:[0-9a-f:]+ is already in use\.\]$/,
    );
    const nameClash = await t.api.post("/vms", body({ init: { regenerate_ids: "true" } }));
    expect(nameClash.status).toBe(409);
    expect(nameClash.json.detail).toMatch(/VM name is already in use/);
    const noCluster = await t.api.post("/vms", {
      initialization: { configuration: { type: "ovf", data: ovf } },
    });
    expect(noCluster.status).toBe(400);
    expect(noCluster.json.reason).toBe("Incomplete parameters");
    const broken = await t.api.post("/vms", {
      cluster: { name: "Default" },
      initialization: { configuration: { type: "ovf", data: "<oops" } },
    });
    expect(broken.status).toBe(400);
    expect(broken.json.detail).toMatch(/OVF error/);
  });

  it("imports as a new entity with regenerate_ids: new id and MACs, disks not attached (audit event)", async () => {
    const { vm, ovf } = await ovfOf("web01");
    const a = await t.api.post("/vms", {
      name: "web01-restored",
      cluster: { name: "Default" },
      initialization: { regenerate_ids: "true", configuration: { type: "ovf", data: ovf } },
    });
    expect(a.status).toBe(201);
    expect(a.json.id).not.toBe(vm.id);
    expect(a.json.name).toBe("web01-restored");
    expect(a.json.status).toBe("down");
    expect(await t.api.ok(`/vms/${a.json.id}/diskattachments`)).toEqual({});
    const macs = async (id: string) =>
      (await t.api.ok(`/vms/${id}/nics`)).nic.map((n: Json) => n.mac.address);
    expect(await macs(a.json.id)).not.toEqual(await macs(vm.id));
    const events = await t.api.ok("/events?search=failed%20to%20attach");
    expect(events.event[0].description).toMatch(/web01-restored .*failed to attach: web01_Disk1/);
    expect(
      (await t.api.ok(`/vms/${a.json.id}/snapshots`)).snapshot.map((s: Json) => s.snapshot_type),
    ).toEqual(["active"]);
  });

  it("re-creates a VM with its own id and attaches the existing floating disks named in the OVF", async () => {
    const { vm, ovf } = await ovfOf("db01");
    const before = (await t.api.ok(`/vms/${vm.id}/diskattachments?follow=disk`)).disk_attachment;
    expect((await t.api.del(`/vms/${vm.id}?detach_only=true`)).status).toBe(200);
    for (const a of before) expect((await t.api.ok(`/disks/${a.id}`)).status).toBe("ok");
    // A floating disk unrelated to the OVF stays floating.
    const extra = await addDisk(t.api, {
      name: "floating",
      provisioned_size: "1048576",
      format: "raw",
      sparse: "true",
      storage_domains: { storage_domain: [{ name: "data1" }] },
    });
    const a = await t.api.post("/vms", {
      cluster: { name: "Default" },
      initialization: { configuration: { type: "ovf", data: ovf } },
    });
    expect(a.status).toBe(201);
    expect(a.json.id).toBe(vm.id);
    expect(a.json.name).toBe("db01");
    const after = (await t.api.ok(`/vms/${vm.id}/diskattachments`)).disk_attachment;
    expect(after.map((x: Json) => x.id).sort()).toEqual(before.map((x: Json) => x.id).sort());
    for (const x of after) {
      const old = before.find((b: Json) => b.id === x.id);
      expect([x.interface, x.bootable, x.active]).toEqual([old.interface, old.bootable, "true"]);
    }
    expect(after.map((x: Json) => x.id)).not.toContain(extra.id);
    // Its OVF is whole again (volumes re-labelled to the new VM's snapshots).
    const again = await t.api.ok(`/vms/${vm.id}?all_content=true`);
    expect(again.initialization.configuration.data.match(/<File /g)).toHaveLength(before.length);
  });
});
