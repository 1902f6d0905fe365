import { SaxesParser } from "saxes";
import type { AttachmentRec } from "../model";
import { isGuid } from "../util/ids";
import { RASD_NS } from "./write";

/** An OVF the engine's importer would refuse; the message has the engine's `OVF error: …` form. */
export class OvfError extends Error {
  override name = "OvfError";
}

interface Node {
  name: string;
  local: string;
  uri: string;
  attrs: Record<string, string>;
  children: Node[];
  text: string;
}

export interface OvfDiskRef {
  diskId: string;
  leafVolumeId: string;
  volumeIds: string[];
  interface: AttachmentRec["interface"];
  bootable: boolean;
  readOnly: boolean;
  passDiscard: boolean;
  alias: string;
}

export interface OvfNicRef {
  id: string | null;
  name: string;
  mac: string;
  network: string;
  profile: string;
  model: number;
  linked: boolean;
  plugged: boolean;
}

export interface ParsedOvf {
  vmId: string;
  name: string;
  description: string;
  comment: string;
  osType: string;
  memoryMb: number;
  cpu: { sockets: number; cores: number; threads: number };
  vmType: number;
  biosType: number;
  disks: OvfDiskRef[];
  nics: OvfNicRef[];
}

const MAX_ELEMENTS = 200_000;

function parseTree(xml: string): Node {
  const parser = new SaxesParser({ xmlns: true });
  const root: Node = { name: "#doc", local: "#doc", uri: "", attrs: {}, children: [], text: "" };
  const stack: Node[] = [root];
  let count = 0;
  parser.on("opentag", (tag) => {
    if (++count > MAX_ELEMENTS) throw new OvfError("OVF error: document has too many elements");
    const attrs: Record<string, string> = {};
    for (const a of Object.values(tag.attributes)) attrs[a.name] = a.value;
    const node: Node = { name: tag.name, local: tag.local, uri: tag.uri, attrs, children: [], text: "" };
    (stack[stack.length - 1] as Node).children.push(node);
    stack.push(node);
  });
  parser.on("text", (t) => {
    (stack[stack.length - 1] as Node).text += t;
  });
  parser.on("closetag", () => {
    stack.pop();
  });
  try {
    parser.write(xml).close();
  } catch (e) {
    if (e instanceof OvfError) throw e;
    throw new OvfError(`OVF error: malformed XML: ${(e as Error).message.split("\n")[0]}`);
  }
  return root;
}

/** Structural OVF elements are in no namespace; the engine's XPath finds nothing otherwise. */
const plain = (n: Node, local: string) => n.uri === "" && n.local === local;
const rasd = (n: Node, local: string) => n.uri === RASD_NS && n.local.toLowerCase() === local.toLowerCase();

function descendants(n: Node, pred: (n: Node) => boolean, out: Node[] = []): Node[] {
  for (const c of n.children) {
    if (pred(c)) out.push(c);
    descendants(c, pred, out);
  }
  return out;
}

const child = (n: Node, pred: (n: Node) => boolean) => n.children.find(pred);
const bool = (s: string | undefined, dflt: boolean) =>
  s === undefined || s.trim() === "" ? dflt : s.trim().toLowerCase() === "true";

const INTERFACES: Record<string, AttachmentRec["interface"]> = {
  virtio: "virtio",
  virtio_scsi: "virtio_scsi",
  ide: "ide",
  sata: "sata",
  spapr_vscsi: "spapr_vscsi",
};

/**
 * Reads what `POST /vms` with an OVF configuration uses: the VM id from the OperatingSystemSection, name,
 * memory and CPU, disks (grouped by the disk id of `rasd:HostResource`, leaf = the volume no other names as
 * parent) and NICs. Enforces the importer's hard requirements (ovirt-ovf.md §10.1).
 */
export function readOvf(xml: string): ParsedOvf {
  const doc = parseTree(xml.trim());
  const envelope = doc.children[0];
  if (envelope?.local !== "Envelope") throw new OvfError("OVF error: the document is not an ovf:Envelope");
  const content = descendants(envelope, (n) => plain(n, "Content"))[0];
  if (!content) throw new OvfError("OVF error: cannot read '//*/Content'");
  const name = child(content, (n) => plain(n, "Name"))?.text ?? "";
  const fail = (xpath: string, value = "null"): never => {
    throw new OvfError(`OVF error: ${name}: cannot read '${xpath}' with value: ${value}`);
  };
  const sections = content.children.filter((n) => plain(n, "Section"));
  for (const s of sections) if (s.attrs["xsi:type"] === undefined) fail("Content/Section/@xsi:type");
  const osSection = sections.find((s) => s.attrs["xsi:type"] === "ovf:OperatingSystemSection_Type");
  const vmId = osSection?.attrs["ovf:id"];
  if (!osSection || !isGuid(vmId)) fail("Section[@xsi:type='ovf:OperatingSystemSection_Type']/@ovf:id", vmId);
  const osType = (osSection && child(osSection, (n) => plain(n, "Description"))?.text) || "other";

  const files = descendants(envelope, (n) => plain(n, "File"));
  const fileIds = new Set<string>();
  for (const f of files) {
    for (const a of ["ovf:id", "ovf:href", "ovf:description"])
      if (f.attrs[a] === undefined) fail(`File/@${a}`);
    fileIds.add(f.attrs["ovf:id"] as string);
  }
  const diskEls = descendants(envelope, (n) => plain(n, "Section")).flatMap((s) =>
    s.children.filter((n) => plain(n, "Disk")),
  );
  const diskMeta = new Map<string, Node>();
  for (const d of diskEls) {
    const id = d.attrs["ovf:diskId"];
    if (id === undefined) fail("Disk/@ovf:diskId");
    diskMeta.set(id as string, d);
  }

  const hwSection = sections.find((s) => s.attrs["xsi:type"] === "ovf:VirtualHardwareSection_Type");
  const items = hwSection ? hwSection.children.filter((n) => plain(n, "Item")) : [];
  const field = (item: Node, local: string) => child(item, (n) => rasd(n, local))?.text;
  let memoryMb = 1024;
  let cpu = { sockets: 1, cores: 1, threads: 1 };
  const volumes: Array<{ volId: string; diskId: string; parent: string }> = [];
  const nics: OvfNicRef[] = [];
  for (const item of items) {
    const type = field(item, "ResourceType");
    if (type === undefined) fail("Item/rasd:ResourceType");
    const t = Number(type);
    if (t === 3) {
      const sockets = field(item, "num_of_sockets");
      const vq = field(item, "VirtualQuantity");
      if (sockets === undefined && vq === undefined) fail("Item[rasd:ResourceType=3]/rasd:num_of_sockets");
      cpu = {
        sockets: Number(sockets ?? vq) || 1,
        cores: Number(field(item, "cpu_per_socket") ?? 1) || 1,
        threads: Number(field(item, "threads_per_cpu") ?? 1) || 1,
      };
    } else if (t === 4) {
      const vq = field(item, "VirtualQuantity");
      if (vq === undefined || !/^\d+$/.test(vq.trim()))
        fail("Item[rasd:ResourceType=4]/rasd:VirtualQuantity", vq);
      memoryMb = Number(vq);
    } else if (t === 20) {
      if (field(item, "VirtualQuantity") === undefined)
        fail("Item[rasd:ResourceType=20]/rasd:VirtualQuantity");
    } else if (t === 17) {
      const volId = field(item, "InstanceId");
      const host = field(item, "HostResource");
      const parent = field(item, "Parent");
      if (!isGuid(volId)) fail("Item[rasd:ResourceType=17]/rasd:InstanceId", volId);
      if (host === undefined) fail("Item[rasd:ResourceType=17]/rasd:HostResource");
      if (parent === undefined) fail("Item[rasd:ResourceType=17]/rasd:Parent");
      if (!fileIds.has(volId as string)) continue; // the engine skips items without a File
      const diskId = (host as string).split("/")[0] ?? "";
      if (!isGuid(diskId)) fail("Item[rasd:ResourceType=17]/rasd:HostResource", host);
      volumes.push({ volId: volId as string, diskId, parent: (parent as string).trim() });
    } else if (t === 10) {
      const id = field(item, "InstanceId");
      if (id === undefined) fail("Item[rasd:ResourceType=10]/rasd:InstanceId");
      const connection = field(item, "Connection");
      if (connection === undefined) fail("Item[rasd:ResourceType=10]/rasd:Connection");
      nics.push({
        id: isGuid(id) ? (id as string) : null,
        name: field(item, "Name") ?? `nic${nics.length + 1}`,
        mac: (field(item, "MACAddress") ?? "").trim().toLowerCase(),
        network: connection as string,
        profile: field(item, "OtherResourceType") ?? "",
        model: Number(field(item, "ResourceSubType") ?? 3) || 3,
        linked: bool(field(item, "Linked"), true),
        plugged: bool(child(item, (n) => plain(n, "IsPlugged"))?.text, true),
      });
    } else if (t === 0) {
      const typeEl = child(item, (n) => plain(n, "Type"));
      if (!typeEl) fail("Item[rasd:ResourceType=0]/Type");
      if ((typeEl as Node).text !== "" && !child(item, (n) => plain(n, "Device")))
        fail("Item[rasd:ResourceType=0]/Device");
    }
  }

  const snapshotsSection = sections.find((s) => s.attrs["xsi:type"] === "ovf:SnapshotsSection_Type");
  for (const s of snapshotsSection ? snapshotsSection.children.filter((n) => plain(n, "Snapshot")) : []) {
    if (s.attrs["ovf:id"] === undefined) fail("Snapshot/@ovf:id");
    const type = child(s, (n) => plain(n, "Type"))?.text;
    if (!type || !["ACTIVE", "REGULAR", "PREVIEW", "STATELESS", "NEXT_RUN"].includes(type))
      fail("Snapshot/Type", type);
    if (!child(s, (n) => plain(n, "Description"))) fail("Snapshot/Description");
    if (!child(s, (n) => plain(n, "CreationDate"))) fail("Snapshot/CreationDate");
  }

  const byDisk = new Map<string, Array<{ volId: string; parent: string }>>();
  for (const v of volumes) {
    const list = byDisk.get(v.diskId) ?? [];
    list.push(v);
    byDisk.set(v.diskId, list);
  }
  const disks: OvfDiskRef[] = [];
  for (const [diskId, vols] of byDisk) {
    const parents = new Set(vols.map((v) => v.parent));
    const leaf = vols.find((v) => !parents.has(v.volId)) ?? (vols[0] as { volId: string });
    const meta = diskMeta.get(leaf.volId);
    const iface = (meta?.attrs["ovf:disk-interface"] ?? "IDE").toLowerCase();
    disks.push({
      diskId,
      leafVolumeId: leaf.volId,
      volumeIds: vols.map((v) => v.volId),
      interface: INTERFACES[iface] ?? "ide",
      bootable: bool(meta?.attrs["ovf:boot"], false),
      readOnly: bool(meta?.attrs["ovf:read-only"], false),
      passDiscard: bool(meta?.attrs["ovf:pass-discard"], false),
      alias: meta?.attrs["ovf:disk-alias"] ?? "",
    });
  }
  const text = (local: string) => child(content, (n) => plain(n, local))?.text ?? "";
  return {
    vmId: vmId as string,
    name,
    description: text("Description"),
    comment: text("Comment"),
    osType,
    memoryMb,
    cpu,
    vmType: Number(text("VmType") || 1),
    biosType: Number(text("BiosType") || 0),
    disks,
    nics,
  };
}
