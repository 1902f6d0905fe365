import { ChainError, composeChain } from "@lifeboat/disk-image";
import {
  attr,
  child,
  children,
  childText,
  MAX_OVF_BYTES,
  OvfError,
  parseXml,
  sectionType,
  type XmlElement,
} from "./xml";

export const EMPTY_GUID = "00000000-0000-0000-0000-000000000000";

/** One volume (image) of a disk, as the OVF states it. */
export interface OvfVolume {
  imageId: string;
  /** Parent image id; null for a base. For a template-based disk the base's parent is a template volume. */
  parentId: string | null;
  diskId: string;
  /** REST vocabulary: `cow` | `raw`; null when the OVF does not say. */
  format: "cow" | "raw" | null;
  /** `Sparse` → true, `Preallocated` → false, else null. */
  sparse: boolean | null;
  /** Virtual size in GiB, rounded up by the engine (`Disk@ovf:size`): approximate. */
  sizeGiB: number | null;
  actualSizeGiB: number | null;
  /** Allocated bytes (`File@ovf:size`). */
  allocatedBytes: number | null;
  /** Snapshot the volume belongs to (`Disk@ovf:vm_snapshot_id`). */
  snapshotId: string | null;
  /** `File@ovf:description`: the description of that snapshot. */
  description: string | null;
  storageDomainId: string | null;
  creationDate: string | null;
}

export interface OvfDisk {
  diskId: string;
  /** `image` for volume-backed disks, `lun` for direct LUNs (no volumes), else the OVF's word lowercased. */
  storageType: string;
  alias: string | null;
  description: string | null;
  /** REST vocabulary: `virtio`, `virtio_scsi`, `ide`, `sata`, `spapr_vscsi` (missing → `ide`, as the engine). */
  interface: string;
  boot: boolean;
  readOnly: boolean;
  passDiscard: boolean;
  wipeAfterDelete: boolean;
  shareable: boolean;
  incrementalBackup: boolean;
  /** The leaf's virtual size in GiB as stated (rounded up). */
  sizeGiB: number | null;
  /** The base's parent when it is a template volume not in this OVF. */
  templateImageId: string | null;
  lunId: string | null;
  /** Base → top. Empty for LUN disks. */
  volumes: OvfVolume[];
}

export interface OvfNic {
  id: string | null;
  name: string;
  /** Network name (`rasd:Connection`); empty for none. */
  network: string;
  /** vNIC profile name (`rasd:OtherResourceType`). */
  profile: string | null;
  mac: string | null;
  /** REST vocabulary: `virtio`, `e1000`, `e1000e`, `rtl8139`, `rtl8139_virtio`, `spapr_vlan`, `pci_passthrough`. */
  model: string;
  linked: boolean;
  plugged: boolean;
}

export interface OvfSnapshot {
  id: string;
  /** REST vocabulary: `active`, `regular`, `preview`, `stateless`, `next_run`. */
  type: string;
  description: string;
  /** ISO 8601 (UTC) from the OVF date; null if it does not parse. */
  date: string | null;
  /** Volumes owned by this snapshot (`Disk@ovf:vm_snapshot_id`). */
  volumes: Array<{ diskId: string; imageId: string }>;
  hasMemory: boolean;
  hasConfiguration: boolean;
}

export interface OvfVm {
  /** From the OperatingSystemSection `ovf:id`: the id the engine gives the imported VM. */
  id: string;
  name: string;
  description: string | null;
  comment: string | null;
  /** osinfo unique name (`rhel_9x64`). */
  os: string | null;
  memoryMiB: number | null;
  maxMemoryMiB: number | null;
  cpu: { sockets: number; coresPerSocket: number; threadsPerCore: number; vcpus: number } | null;
  clusterName: string | null;
  clusterCompatibilityVersion: string | null;
  /** `ovf:version` on the envelope (the engine's VdcVersion, not the cluster level). */
  ovfVersion: string | null;
  creationDate: string | null;
}

export interface OvfInfo {
  vm: OvfVm;
  disks: OvfDisk[];
  nics: OvfNic[];
  snapshots: OvfSnapshot[];
  /** Network names from NetworkSection (4.2+) or the older `Section` NetworkSection_Type. */
  networks: string[];
}

const INTERFACES: Record<string, string> = {
  virtio: "virtio",
  virtio_scsi: "virtio_scsi",
  ide: "ide",
  sata: "sata",
  spapr_vscsi: "spapr_vscsi",
};
const NIC_MODELS = [
  "rtl8139_virtio",
  "rtl8139",
  "e1000",
  "virtio",
  "spapr_vlan",
  "pci_passthrough",
  "e1000e",
];

const bool = (v: string | undefined, dflt = false) =>
  v === undefined || v.trim() === "" ? dflt : /^true$/i.test(v.trim());
const guid = (v: string | undefined): string | null => {
  const t = v?.trim().toLowerCase();
  return !t || t === EMPTY_GUID ? null : t;
};
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** An id a restore creates entities with (VM, disk, image): a GUID, else the document is refused. */
const entityId = (v: string, what: string): string => {
  if (!GUID.test(v)) throw new OvfError(`OVF ${what} "${v.slice(0, 80)}" is not a GUID`);
  return v;
};
const num = (v: string | undefined): number | null => {
  if (v === undefined || v.trim() === "") return null;
  const n = Number(v.trim());
  return Number.isSafeInteger(n) ? n : null;
};
const text = (v: string | undefined): string | null => (v === undefined ? null : v);

/** `yyyy/MM/dd HH:mm:ss` or `yyyy.MM.dd HH:mm:ss` (UTC) → ISO 8601. */
export function parseOvfDate(v: string | undefined): string | null {
  const m = v?.trim().match(/^(\d{4})[/.](\d{2})[/.](\d{2}) (\d{2}):(\d{2}):(\d{2})$/);
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** The parsed document: the envelope plus the sections a restore reads. */
export interface OvfDocument {
  source: string;
  root: XmlElement;
  references: XmlElement | undefined;
  diskSection: XmlElement | undefined;
  content: XmlElement;
  osSection: XmlElement;
  hardware: XmlElement;
  snapshotsSection: XmlElement | undefined;
}

/** Decodes bytes (UTF-8, optional BOM) or returns the string; size-checked before decoding. */
export function ovfText(xml: string | Buffer): string {
  if (Buffer.isBuffer(xml) && xml.length > MAX_OVF_BYTES)
    throw new OvfError(`OVF document is larger than ${MAX_OVF_BYTES} bytes`);
  const s = Buffer.isBuffer(xml) ? xml.toString("utf8") : xml;
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

export function loadOvfDocument(xml: string | Buffer): OvfDocument {
  const source = ovfText(xml);
  const root = parseXml(source);
  if (root.local !== "Envelope")
    throw new OvfError(`not an OVF: the root element is <${root.qname}>, not Envelope`);
  const content = child(root, "Content");
  if (!content) throw new OvfError("OVF has no Content section");
  const sections = children(content, "Section");
  const osSection = sections.find((s) => sectionType(s) === "OperatingSystemSection_Type");
  if (!osSection) throw new OvfError("OVF has no OperatingSystemSection");
  const hardware = sections.find((s) => sectionType(s) === "VirtualHardwareSection_Type");
  if (!hardware) throw new OvfError("OVF has no VirtualHardwareSection");
  return {
    source,
    root,
    references: child(root, "References"),
    diskSection: children(root, "Section").find((s) => sectionType(s) === "DiskSection_Type"),
    content,
    osSection,
    hardware,
    snapshotsSection: sections.find((s) => sectionType(s) === "SnapshotsSection_Type"),
  };
}

const resourceType = (item: XmlElement) => childText(item, "ResourceType");
export const instanceId = (item: XmlElement) => childText(item, "InstanceId", "InstanceID");

/** Splits `<disk-id>/<volume-id>`. */
export function splitHref(href: string): { diskId: string; imageId: string } | null {
  const parts = href.trim().toLowerCase().split("/");
  if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
  return { diskId: parts[0], imageId: parts[1] };
}

/** Reads what a restore needs from an engine OVF (3.6 to 4.5 dialects). Throws OvfError. */
export function parseOvf(xml: string | Buffer): OvfInfo {
  return parseOvfDocument(loadOvfDocument(xml));
}

export function parseOvfDocument(doc: OvfDocument): OvfInfo {
  const { root, content, osSection, hardware } = doc;

  const vmId = guid(attr(osSection, "id"));
  if (!vmId) throw new OvfError("OVF OperatingSystemSection has no ovf:id (the VM id)");
  entityId(vmId, "VM id (OperatingSystemSection ovf:id)");
  const items = children(hardware, "Item");
  const cpuItem = items.find((i) => resourceType(i) === "3");
  const memItem = items.find((i) => resourceType(i) === "4");
  let cpu: OvfVm["cpu"] = null;
  if (cpuItem) {
    const vq = num(childText(cpuItem, "VirtualQuantity"));
    const sockets = num(childText(cpuItem, "num_of_sockets")) ?? vq ?? 1;
    const coresPerSocket = num(childText(cpuItem, "cpu_per_socket")) ?? 1;
    const threadsPerCore = num(childText(cpuItem, "threads_per_cpu")) ?? 1;
    cpu = { sockets, coresPerSocket, threadsPerCore, vcpus: vq ?? sockets * coresPerSocket * threadsPerCore };
  }
  const vm: OvfVm = {
    id: vmId,
    name: childText(content, "Name") ?? "",
    description: text(child(content, "Description")?.text),
    comment: text(child(content, "Comment")?.text),
    os: childText(osSection, "Description") || null,
    memoryMiB: num(childText(memItem, "VirtualQuantity")),
    maxMemoryMiB: num(childText(content, "MaxMemorySizeMb")),
    cpu,
    clusterName: text(childText(content, "ClusterName")),
    clusterCompatibilityVersion: text(childText(content, "ClusterCompatibilityVersion")),
    ovfVersion: text(attr(root, "version")),
    creationDate: parseOvfDate(childText(content, "CreationDate")),
  };

  // Volumes: File (href = disk/volume), Disk (keyed by volume id), hardware Item 17 (rasd:Parent).
  const diskEls = new Map<string, XmlElement>();
  for (const d of children(doc.diskSection, "Disk")) {
    const id = guid(attr(d, "diskId"));
    if (id) diskEls.set(id, d);
  }
  const volumeItems = new Map<string, XmlElement>();
  for (const i of items) {
    if (resourceType(i) !== "17") continue;
    const id = guid(instanceId(i));
    if (id) volumeItems.set(id, i);
  }

  const disks = new Map<string, OvfDisk>();
  const diskOf = (diskId: string, d: XmlElement | undefined, storageType: string): OvfDisk => {
    let disk = disks.get(diskId);
    if (!disk) {
      disk = {
        diskId,
        storageType,
        ...diskSettings(d),
        templateImageId: null,
        lunId: text(attr(d, "lun_id")),
        volumes: [],
      };
      disks.set(diskId, disk);
    }
    return disk;
  };

  for (const f of children(doc.references, "File")) {
    const storageType = (attr(f, "disk_storage_type") ?? "IMAGE").toLowerCase();
    const href = attr(f, "href") ?? "";
    if (storageType === "lun") {
      const diskId = guid(attr(f, "id")) ?? guid(href);
      if (!diskId) throw new OvfError("OVF File of a LUN disk has no ovf:id");
      diskOf(entityId(diskId, "LUN disk id"), diskEls.get(diskId), "lun");
      continue;
    }
    const ref = splitHref(href);
    if (!ref) throw new OvfError(`OVF File ovf:href "${href}" is not <disk-id>/<volume-id>`);
    entityId(ref.diskId, `disk id in File ovf:href "${href.slice(0, 160)}"`);
    const imageId = entityId(guid(attr(f, "id")) ?? ref.imageId, "volume id (File ovf:id)");
    const d = diskEls.get(imageId);
    const item = volumeItems.get(imageId);
    const volumeFormat = attr(d, "volume-format")?.toUpperCase();
    const volumeType = attr(d, "volume-type")?.toLowerCase();
    diskOf(ref.diskId, d, storageType).volumes.push({
      imageId,
      parentId: item ? guid(childText(item, "Parent")) : null,
      diskId: ref.diskId,
      format: volumeFormat === "COW" ? "cow" : volumeFormat === "RAW" ? "raw" : null,
      sparse: volumeType === "sparse" ? true : volumeType === "preallocated" ? false : null,
      sizeGiB: num(attr(d, "size")),
      actualSizeGiB: num(attr(d, "actual_size")),
      allocatedBytes: num(attr(f, "size")),
      snapshotId: guid(attr(d, "vm_snapshot_id")),
      description: text(attr(f, "description")),
      storageDomainId: item ? guid(childText(item, "StorageId")) : null,
      creationDate: item ? parseOvfDate(childText(item, "CreationDate")) : null,
    });
  }
  // LUN disks listed only in the DiskSection (older engines).
  for (const [id, d] of diskEls) {
    if (attr(d, "lun_id") !== undefined && !disks.has(id))
      diskOf(entityId(id, "LUN disk id (Disk ovf:diskId)"), d, "lun");
  }

  for (const disk of disks.values()) {
    if (disk.volumes.length === 0) continue;
    const ids = new Set(disk.volumes.map((v) => v.imageId));
    for (const v of disk.volumes) {
      if (!volumeItems.has(v.imageId) && disk.volumes.length > 1)
        throw new OvfError(
          `OVF disk ${disk.diskId}: volume ${v.imageId} has no hardware Item, so its parent is unknown`,
        );
    }
    try {
      disk.volumes = composeChain(
        disk.volumes.map((volume) => ({
          volume,
          name: volume.imageId,
          backingName: volume.parentId && ids.has(volume.parentId) ? volume.parentId : null,
        })),
      ).map((l) => l.volume);
    } catch (e) {
      if (e instanceof ChainError)
        throw new OvfError(`OVF disk ${disk.diskId}: volume chain is broken: ${e.message}`);
      throw e;
    }
    const base = disk.volumes[0]!;
    disk.templateImageId = base.parentId;
    // Attachment and disk settings: take the leaf's (the engine keeps the leaf's).
    const leafEl = diskEls.get(disk.volumes[disk.volumes.length - 1]!.imageId);
    if (leafEl) Object.assign(disk, diskSettings(leafEl));
  }

  const nics: OvfNic[] = [];
  for (const i of items) {
    if (resourceType(i) !== "10") continue;
    const modelCode = num(childText(i, "ResourceSubType"));
    nics.push({
      id: guid(instanceId(i)),
      name: childText(i, "Name") || childText(i, "ElementName") || `nic${nics.length + 1}`,
      network: childText(i, "Connection") ?? "",
      profile: text(childText(i, "OtherResourceType")),
      mac: childText(i, "MACAddress")?.toLowerCase() || null,
      model: (modelCode !== null ? NIC_MODELS[modelCode] : undefined) ?? "virtio",
      linked: bool(childText(i, "Linked"), true),
      plugged: bool(childText(i, "IsPlugged"), true),
    });
  }

  const allVolumes = [...disks.values()].flatMap((d) => d.volumes);
  const snapshots: OvfSnapshot[] = children(doc.snapshotsSection, "Snapshot").map((s) => {
    const id = guid(attr(s, "id"));
    if (!id) throw new OvfError("OVF Snapshot has no ovf:id");
    return {
      id,
      type: (childText(s, "Type") ?? "").toLowerCase(),
      description: childText(s, "Description") ?? "",
      date: parseOvfDate(childText(s, "CreationDate")),
      volumes: allVolumes
        .filter((v) => v.snapshotId === id)
        .map((v) => ({ diskId: v.diskId, imageId: v.imageId })),
      hasMemory: !!childText(s, "Memory"),
      hasConfiguration: !!childText(s, "VmConfiguration"),
    };
  });

  const networkSection =
    child(root, "NetworkSection") ??
    children(root, "Section").find((s) => sectionType(s) === "NetworkSection_Type");
  const networks = children(networkSection, "Network")
    .map((n) => attr(n, "name") ?? "")
    .filter((n) => n !== "");

  return { vm, disks: [...disks.values()], nics, snapshots, networks };
}

/** Disk-level and attachment fields of a Disk element (repeated on every volume of the disk). */
function diskSettings(el: XmlElement | undefined) {
  const iface = (attr(el, "disk-interface") || "IDE").toLowerCase();
  return {
    alias: text(attr(el, "disk-alias")),
    description: text(attr(el, "disk-description")),
    interface: INTERFACES[iface] ?? iface,
    boot: bool(attr(el, "boot")),
    readOnly: bool(attr(el, "read-only")),
    passDiscard: bool(attr(el, "pass-discard")),
    wipeAfterDelete: bool(attr(el, "wipe-after-delete")),
    shareable: bool(attr(el, "shareable")),
    incrementalBackup: bool(attr(el, "incremental-backup")),
    sizeGiB: num(attr(el, "size")),
  };
}
