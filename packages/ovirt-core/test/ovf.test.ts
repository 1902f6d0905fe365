import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_OVF_BYTES, OvfError, type OvfInfo, parseOvf, rewriteOvf } from "../src";

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, "fixtures/ovf", name), "utf8");
const pretty45 = fixture("engine-4.5-pretty.ovf");
const oneLine45 = fixture("engine-4.5-oneline.ovf");
const slashless42 = fixture("engine-4.2-slashless.ovf");
const pretty36 = fixture("engine-3.6-pretty.ovf");
const lun44 = fixture("engine-4.4-lun-template.ovf");
const all = { pretty45, oneLine45, slashless42, pretty36, lun44 };

/** Qualified names of every element and attribute, in document order: the dialect's fingerprint. */
const qnames = (xml: string) =>
  [...xml.matchAll(/<\/?([A-Za-z_][\w:.-]*)|\s([A-Za-z_][\w:.-]*)=/g)].map((m) => m[1] ?? m[2]);

describe("parseOvf", () => {
  it("reads the 4.5 example: VM, disks with chains base → top, NICs, snapshots and their volumes", () => {
    const info = parseOvf(pretty45);
    expect(info.vm).toMatchObject({
      id: "3f1c0a2e-0000-4000-8000-00000000a001",
      name: "app01",
      os: "rhel_9x64",
      memoryMiB: 4096,
      cpu: { sockets: 2, coresPerSocket: 1, threadsPerCore: 1, vcpus: 2 },
      clusterName: "Default",
      clusterCompatibilityVersion: "4.7",
      ovfVersion: "4.4.0.0",
    });
    const [a, b] = info.disks;
    expect(a).toMatchObject({ diskId: "d1a00000-0000-4000-8000-00000000000a", alias: "app01_Disk1" });
    expect(a).toMatchObject({ interface: "virtio_scsi", boot: true, readOnly: false, passDiscard: false });
    expect(a?.volumes.map((v) => [v.imageId.slice(-1), v.parentId?.slice(-1) ?? null, v.format])).toEqual([
      ["1", null, "cow"],
      ["2", "1", "cow"],
      ["3", "2", "cow"],
    ]);
    expect(a?.volumes.map((v) => v.description)).toEqual(["before-upgrade", "after-upgrade", "Active VM"]);
    expect(a?.volumes[0]).toMatchObject({ sizeGiB: 20, allocatedBytes: 3650722816, sparse: true });
    expect(b).toMatchObject({ alias: "app01_Disk2", interface: "virtio", boot: false });
    expect(b?.volumes).toHaveLength(1);
    expect(b?.volumes[0]).toMatchObject({
      format: "raw",
      sparse: false,
      parentId: null,
      allocatedBytes: 53687091200,
    });
    expect(info.nics.map((n) => [n.name, n.network, n.mac, n.model, n.profile, n.linked])).toEqual([
      ["nic1", "ovirtmgmt", "56:6f:3a:b1:00:01", "virtio", "ovirtmgmt", true],
      ["nic2", "storage-net", "56:6f:3a:b1:00:02", "e1000", "storage-net-qos", false],
    ]);
    expect(
      info.snapshots.map((s) => [s.type, s.description, s.date, s.volumes.map((v) => v.imageId.slice(0, 2))]),
    ).toEqual([
      ["active", "Active VM", "2024-03-01T08:00:00.000Z", ["a1", "b1"]],
      ["regular", "before-upgrade", "2024-04-02T10:15:00.000Z", ["a1"]],
      ["regular", "after-upgrade", "2024-05-06T12:30:00.000Z", ["a1"]],
    ]);
    expect(info.snapshots[1]?.hasConfiguration).toBe(true);
    expect(info.networks).toEqual(["ovirtmgmt", "storage-net"]);
  });

  it("reads one-line and pretty-printed documents identically", () => {
    expect(oneLine45.includes("\n")).toBe(false);
    expect(parseOvf(oneLine45)).toEqual(parseOvf(pretty45));
    expect(parseOvf(Buffer.from(`\ufeff${oneLine45}`))).toEqual(parseOvf(pretty45));
  });

  it("accepts rasd:InstanceID, booleans in any case and CRLF line ends", () => {
    const variant = pretty45
      .replace(/rasd:InstanceId>/g, "rasd:InstanceID>")
      .replace(/"true"/g, '"TRUE"')
      .replace(/>false</g, ">False<")
      .replace(/\n/g, "\r\n");
    expect(parseOvf(variant)).toEqual(parseOvf(pretty45));
  });

  it("decodes a snapshot's VmConfiguration into a nested OVF with that snapshot's volumes", () => {
    const blob = pretty45.match(/<VmConfiguration>([^<]+)<\/VmConfiguration>/)?.[1] ?? "";
    const nested = parseOvf(Buffer.from(blob, "base64"));
    expect(nested.vm.id).toBe(parseOvf(pretty45).vm.id);
    expect(nested.disks.map((d) => d.volumes.map((v) => v.imageId))).toEqual([
      ["a1000000-0000-4000-8000-000000000001"],
      ["b1000000-0000-4000-8000-000000000001"],
    ]);
  });

  it("reads a 4.2 OVF with the slash-less ovf namespace", () => {
    const info = parseOvf(slashless42);
    expect(info.vm).toMatchObject({
      id: "42424242-0000-4000-8000-0000000000aa",
      name: "legacy42",
      os: "rhel_7x64",
    });
    const [d] = info.disks;
    expect(d).toMatchObject({ alias: "legacy42_Disk1", description: "system disk", passDiscard: true });
    expect(d).toMatchObject({ wipeAfterDelete: true, interface: "virtio_scsi" });
    expect(d?.volumes.map((v) => v.imageId.slice(-1))).toEqual(["1", "2"]);
    expect(info.snapshots.find((s) => s.type === "regular")?.description).toBe("pre-patch & reboot");
    expect(info.nics[0]).toMatchObject({ name: "eth0", network: "ovirtmgmt", mac: "00:1a:4a:16:01:51" });
  });

  it("reads a 3.6 OVF: Section-style NetworkSection, self-closed elements, Nic references, mixed-case booleans", () => {
    const info = parseOvf(pretty36);
    expect(info.vm).toMatchObject({ name: "HostedEngine", memoryMiB: 4096, clusterName: null, comment: "" });
    expect(info.vm.cpu).toEqual({ sockets: 2, coresPerSocket: 2, threadsPerCore: 1, vcpus: 4 });
    expect(info.networks).toEqual(["Network 1"]);
    expect(info.disks).toHaveLength(1);
    expect(info.disks[0]).toMatchObject({
      interface: "virtio",
      boot: true,
      readOnly: false,
      alias: "hosted_engine_disk",
    });
    expect(info.disks[0]?.volumes[0]).toMatchObject({
      format: "raw",
      sparse: false,
      allocatedBytes: 21474836480,
    });
    expect(info.nics[0]).toMatchObject({
      name: "vnet0",
      network: "Network 1",
      mac: "00:16:3e:7e:3a:5b",
      linked: true,
    });
  });

  it("reads a LUN disk (no volumes) and a template-based disk (base parent outside the OVF)", () => {
    const info = parseOvf(lun44);
    expect(info.vm.name).toBe("db01 <prod>");
    const [os, lun] = info.disks;
    expect(os).toMatchObject({ storageType: "image", boot: true, incrementalBackup: true, readOnly: false });
    expect(os).toMatchObject({ templateImageId: "7e7e0000-0000-4000-8000-000000000001" });
    expect(os?.description).toBe('thin clone of template "rhel9"');
    expect(os?.volumes.map((v) => v.parentId)).toEqual(["7e7e0000-0000-4000-8000-000000000001"]);
    expect(lun).toMatchObject({
      storageType: "lun",
      lunId: "36001405f4c3d3b8e2a94e4f9d1c0a001",
      readOnly: true,
    });
    expect(lun?.volumes).toEqual([]);
    expect(info.nics.map((n) => [n.model, n.network, n.plugged])).toEqual([
      ["e1000e", "prod", false],
      ["virtio", "", true],
    ]);
  });
});

describe("parseOvf refuses malformed and hostile documents", () => {
  const body = oneLine45.replace(/^<\?xml[^>]*\?>/, "");
  const billionLaughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from(
    { length: 9 },
    (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? "" : i};`.repeat(10)}">`,
  ).join("")}]><ovf:Envelope><Content>&lol9;</Content></ovf:Envelope>`;

  it.each([
    ["a DOCTYPE with entity expansion", billionLaughs, /must not contain a DOCTYPE/],
    [
      "an external entity",
      `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>${body}`,
      /DOCTYPE/,
    ],
    ["a plain DOCTYPE", `<!DOCTYPE Envelope>${body}`, /DOCTYPE/],
    [
      "an undefined entity",
      oneLine45.replace("<Name>app01</Name>", "<Name>&app;</Name>"),
      /undefined entity/,
    ],
    ["an unclosed element", oneLine45.slice(0, oneLine45.length - 20), /not well-formed/],
    ["garbage", "\u0000\u0001binary", /not well-formed/],
    ["an empty document", "", /not well-formed|no root/],
    ["a non-OVF root", "<html><body/></html>", /root element is <html>/],
    ["a missing Content", oneLine45.replace(/<Content[\s\S]*<\/Content>/, ""), /no Content/],
    [
      "a missing OS section",
      oneLine45.replace(
        /<Section ovf:id="[^"]*" ovf:required="false" xsi:type="ovf:OperatingSystemSection_Type">.*?<\/Section>/,
        "",
      ),
      /no OperatingSystemSection/,
    ],
    [
      "a missing hardware section",
      oneLine45.replace(/<Section xsi:type="ovf:VirtualHardwareSection_Type">.*?<\/Section>/, ""),
      /no VirtualHardwareSection/,
    ],
    [
      "deep nesting",
      `<ovf:Envelope>${"<a>".repeat(100_000)}${"</a>".repeat(100_000)}</ovf:Envelope>`,
      /deeper than 64/,
    ],
    [
      "a volume loop",
      oneLine45.replace(
        "<rasd:Parent>00000000-0000-0000-0000-000000000000</rasd:Parent>",
        "<rasd:Parent>a1000000-0000-4000-8000-000000000003</rasd:Parent>",
      ),
      /disk d1a00000-.*volume chain is broken: .*loop/,
    ],
    [
      "two bases in one disk",
      oneLine45.replace(
        "<rasd:Parent>a1000000-0000-4000-8000-000000000001</rasd:Parent>",
        "<rasd:Parent>00000000-0000-0000-0000-000000000000</rasd:Parent>",
      ),
      /volume chain is broken: several base layers/,
    ],
    [
      "a LUN disk id that is not a GUID",
      lun44.replace('ovf:diskId="1d000000', 'ovf:diskId="&amp;000'),
      /LUN disk id .* is not a GUID/,
    ],
    [
      "a disk id in a File href that is not a GUID",
      oneLine45.replace('ovf:href="d1b00000-0000-4000-8000-00000000000b/', 'ovf:href="d1b00000-x/'),
      /disk id in File ovf:href "d1b00000-x\/.*" is not a GUID/,
    ],
    [
      "a bad File href",
      oneLine45.replace('ovf:href="d1b00000-0000-4000-8000-00000000000b/', 'ovf:href="'),
      /is not <disk-id>\/<volume-id>/,
    ],
  ])("%s", (_what, xml, message) => {
    const started = Date.now();
    expect(() => parseOvf(xml)).toThrow(OvfError);
    expect(() => parseOvf(xml)).toThrow(message);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("refuses documents over the size limit before parsing them", () => {
    const huge = Buffer.alloc(MAX_OVF_BYTES + 1, 0x20);
    expect(() => parseOvf(huge)).toThrow(/larger than/);
    expect(() => parseOvf(`${oneLine45}${" ".repeat(MAX_OVF_BYTES)}`)).toThrow(/larger than/);
  });
});

describe("rewriteOvf", () => {
  /** Fresh ids for every disk and volume of the document. */
  function freshIds(info: OvfInfo) {
    const diskIds: Record<string, string> = {};
    const imageIds: Record<string, string> = {};
    for (const d of info.disks) {
      diskIds[d.diskId] = randomUUID();
      for (const v of d.volumes) imageIds[v.imageId] = randomUUID();
    }
    return { diskIds, imageIds };
  }

  it.each(Object.entries(all))("with no changes returns %s byte for byte", (_name, xml) => {
    expect(rewriteOvf(xml, { clearMacs: false })).toBe(xml);
  });

  it.each(Object.entries(all))(
    "rewrites %s: new ids everywhere, chains kept, MACs empty, same dialect and layout",
    (_name, xml) => {
      const before = parseOvf(xml);
      const { diskIds, imageIds } = freshIds(before);
      const out = rewriteOvf(xml, { name: "restored & <renamed>", diskIds, imageIds });
      const after = parseOvf(out);
      expect(after.vm.name).toBe("restored & <renamed>");
      expect(after.vm.id).toBe(before.vm.id);
      expect(after.nics.map((n) => n.mac)).toEqual(before.nics.map(() => null));
      expect(after.nics.map((n) => n.name)).toEqual(before.nics.map((n) => n.name));
      const mapped = (id: string | null) => (id === null ? null : (imageIds[id] ?? id));
      expect(after.disks.map((d) => d.diskId)).toEqual(before.disks.map((d) => diskIds[d.diskId]));
      expect(
        after.disks.map((d) => d.volumes.map((v) => [v.imageId, v.parentId, v.diskId, v.format])),
      ).toEqual(
        before.disks.map((d) =>
          d.volumes.map((v) => [mapped(v.imageId), mapped(v.parentId), diskIds[d.diskId], v.format]),
        ),
      );
      expect(after.snapshots.map((s) => s.volumes)).toEqual(
        before.snapshots.map((s) =>
          s.volumes.map((v) => ({ diskId: diskIds[v.diskId], imageId: mapped(v.imageId) })),
        ),
      );
      // Old ids survive only inside base64 snapshot configurations, which the engine ignores.
      const plain = out.replace(/<VmConfiguration>[^<]*<\/VmConfiguration>/g, "");
      for (const old of [...Object.keys(diskIds), ...Object.keys(imageIds)]) expect(plain).not.toContain(old);
      for (const [oldDisk, newDisk] of Object.entries(diskIds))
        if (xml.includes(`<Alias>ua-${oldDisk}</Alias>`))
          expect(out).toContain(`<Alias>ua-${newDisk}</Alias>`);
      expect(qnames(out)).toEqual(qnames(xml));
      expect(out.split("\n").length).toBe(xml.split("\n").length);
      expect(out.slice(0, 200)).toBe(xml.slice(0, 200));
    },
  );

  it("drops disks with their File, Disk and hardware Items, leaving no blank lines", () => {
    const out = rewriteOvf(pretty45, { dropDisks: ["d1a00000-0000-4000-8000-00000000000a"] });
    const info = parseOvf(out);
    expect(info.disks.map((d) => d.diskId)).toEqual(["d1b00000-0000-4000-8000-00000000000b"]);
    expect(out).not.toMatch(/a1000000-0000-4000-8000-00000000000[123]"/);
    const blankLines = (x: string) => x.split("\n").filter((l) => l.trim() === "").length;
    expect(blankLines(out)).toBe(blankLines(pretty45));
    expect(info.nics.map((n) => n.mac)).toEqual([null, null]);
    const oneLineOut = rewriteOvf(oneLine45, { dropDisks: ["d1b00000-0000-4000-8000-00000000000b"] });
    expect(oneLineOut.includes("\n")).toBe(false);
    expect(parseOvf(oneLineOut).disks.map((d) => d.alias)).toEqual(["app01_Disk1"]);
  });

  it("refuses mappings for ids the OVF does not have, and non-GUID ids", () => {
    expect(() => rewriteOvf(pretty45, { diskIds: { [randomUUID()]: randomUUID() } })).toThrow(
      /not in the OVF/,
    );
    expect(() =>
      rewriteOvf(pretty45, { imageIds: { "a1000000-0000-4000-8000-000000000001": "x/y" } }),
    ).toThrow(/not GUID → GUID/);
    expect(() => rewriteOvf(pretty45, { dropDisks: [randomUUID()] })).toThrow(/to drop is not in the OVF/);
  });

  it("edits at the right offsets after CRLF line ends and astral characters", () => {
    const xml = pretty45.replace("<Name>app01</Name>", "<Name>app😀01</Name>").replace(/\n/g, "\r\n");
    const newImage = "99999999-0000-4000-8000-000000000002";
    const out = rewriteOvf(xml, {
      name: "név😀",
      clearMacs: false,
      imageIds: { "a1000000-0000-4000-8000-000000000002": newImage },
    });
    expect(parseOvf(out).vm.name).toBe("név😀");
    expect(parseOvf(out).disks[0]?.volumes.map((v) => v.imageId)[1]).toBe(newImage);
    const back = out
      .replaceAll(newImage, "a1000000-0000-4000-8000-000000000002")
      .replace("<Name>név😀</Name>", "<Name>app😀01</Name>");
    expect(back).toBe(xml);
  });

  it("keeps the engine's prefixes: only ids, the name and MACs change", () => {
    const out = rewriteOvf(slashless42, {
      name: "legacy42-restore",
      imageIds: { "7c1e0000-0000-4000-8000-000000000001": "99999999-0000-4000-8000-000000000001" },
    });
    const back = out
      .replaceAll("99999999-0000-4000-8000-000000000001", "7c1e0000-0000-4000-8000-000000000001")
      .replace("<Name>legacy42-restore</Name>", "<Name>legacy42</Name>")
      .replace("<rasd:MACAddress></rasd:MACAddress>", "<rasd:MACAddress>00:1a:4a:16:01:51</rasd:MACAddress>");
    expect(back).toBe(slashless42);
    expect(out).toContain('xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"');
  });
});
