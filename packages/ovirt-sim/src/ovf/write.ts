import type { AttachmentRec, NicRec, VmRec } from "../model";
import { EMPTY_GUID } from "../util/ids";

/**
 * Writes a VM OVF in the engine's own dialect (ovirt-ovf.md): one line, double quotes, `<X></X>` for
 * empty values, namespaces declared once on the root in the engine's order, only the root prefixed, one
 * File / Disk / Item per volume (leaf first), the writer's parentRef quirk, and a SnapshotsSection whose
 * regular snapshots carry the Base64 OVF of their time.
 */

export interface OvfVolume {
  id: string;
  parentId: string | null;
  format: "cow" | "raw";
  sparse: boolean;
  snapshotId: string;
  creationTime: number;
  lastModified: number;
  actualSize: number;
  virtualSize: number;
}

export interface OvfDisk {
  id: string;
  alias: string;
  description: string;
  storageDomainId: string;
  wipeAfterDelete: boolean;
  incrementalBackup: boolean;
  attachment: AttachmentRec;
  /** Base → leaf. */
  volumes: OvfVolume[];
  /** Index of the disk among the VM's disks (drive unit / PCI slot in the address). */
  index: number;
}

export interface OvfSnapshot {
  id: string;
  type: "ACTIVE" | "REGULAR";
  description: string;
  date: number;
  /** The OVF stored when the snapshot was taken (Base64-encoded on output). */
  configuration?: string;
}

export interface OvfInput {
  vm: VmRec;
  clusterName: string;
  dataCenterId: string;
  disks: OvfDisk[];
  /** Absent in snapshot-time OVFs. */
  snapshots?: OvfSnapshot[];
  /** Snapshot id → description, for File@ovf:description. */
  snapshotDescriptions: Map<string, string>;
  exportDate: number;
  /** Snapshot-time OVFs leave rasd:StorageId out. */
  includeStorageIds: boolean;
}

export const OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1/";
export const RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData";
export const VSSD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData";
export const XSI_NS = "http://www.w3.org/2001/XMLSchema-instance";
const VDC_VERSION = "4.4.0.0";
const COW_URL = "http://www.gnome.org/~markmc/qcow-image-format.html";
const RAW_URL = "http://www.vmware.com/specifications/vmdk.html#sparse";
const GiB = 2 ** 30;

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** `yyyy/MM/dd HH:mm:ss` in UTC. */
export function ovfDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

const el = (name: string, text: string | number | boolean) => `<${name}>${escapeXml(String(text))}</${name}>`;
const attrs = (pairs: Array<[string, string | number | boolean]>) =>
  pairs.map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`).join("");

const INTERFACE: Record<AttachmentRec["interface"], string> = {
  virtio: "VirtIO",
  virtio_scsi: "VirtIO_SCSI",
  ide: "IDE",
  sata: "SATA",
  spapr_vscsi: "SPAPR_VSCSI",
};

function diskAddress(d: OvfDisk): string {
  if (d.attachment.interface === "virtio")
    return `{type=pci, slot=0x${(7 + d.index).toString(16).padStart(2, "0")}, bus=0x00, domain=0x0000, function=0x0}`;
  return `{type=drive, bus=0, controller=0, target=0, unit=${d.index}}`;
}

function deviceBlock(o: {
  type: string;
  device: string;
  address: string;
  bootOrder: number;
  plugged: boolean;
  readOnly: boolean;
  alias: string;
  specParams?: string;
}): string {
  return (
    el("Type", o.type) +
    el("Device", o.device) +
    el("rasd:Address", o.address) +
    el("BootOrder", o.bootOrder) +
    el("IsPlugged", o.plugged) +
    el("IsReadOnly", o.readOnly) +
    el("Alias", o.alias) +
    (o.specParams !== undefined ? `<SpecParams>${o.specParams}</SpecParams>` : "")
  );
}

/** Volumes in the engine's order: disks in VM order, each chain leaf first. */
function orderedVolumes(disks: OvfDisk[]): Array<{ disk: OvfDisk; vol: OvfVolume }> {
  const out: Array<{ disk: OvfDisk; vol: OvfVolume }> = [];
  for (const disk of disks) for (const vol of [...disk.volumes].reverse()) out.push({ disk, vol });
  return out;
}

export function writeOvf(input: OvfInput): string {
  const { vm } = input;
  const vols = orderedVolumes(input.disks);
  const href = (d: OvfDisk, v: OvfVolume) => `${d.id}/${v.id}`;
  const first = vols[0];
  const second = vols[1];

  let refs = "<References>";
  for (const { disk, vol } of vols) {
    refs += `<File${attrs([
      ["ovf:href", href(disk, vol)],
      ["ovf:id", vol.id],
      ["ovf:size", vol.actualSize],
      ["ovf:description", input.snapshotDescriptions.get(vol.snapshotId) ?? ""],
      ["ovf:disk_storage_type", "IMAGE"],
      ["ovf:cinder_volume_type", ""],
    ])}></File>`;
  }
  refs += "</References>";

  const networks = [...new Set(vm.nics.map((n) => n.network).filter((n) => n !== ""))];
  const netSection = `<NetworkSection><Info>List of networks</Info>${networks
    .map((n) => `<Network${attrs([["ovf:name", n]])}></Network>`)
    .join("")}</NetworkSection>`;

  let diskSection = `<Section xsi:type="ovf:DiskSection_Type"><Info>List of Virtual Disks</Info>`;
  for (const { disk, vol } of vols) {
    // The engine's writer bug: a volume with a parent gets the first volume's href (or the second's when the
    // first is its parent).
    let parentRef = "";
    if (vol.parentId && first) {
      parentRef =
        first.vol.id === vol.parentId && second ? href(second.disk, second.vol) : href(first.disk, first.vol);
    }
    const a = disk.attachment;
    const pairs: Array<[string, string | number | boolean]> = [
      ["ovf:diskId", vol.id],
      ["ovf:size", Math.ceil(vol.virtualSize / GiB)],
      ["ovf:actual_size", Math.ceil(vol.actualSize / GiB)],
      ["ovf:vm_snapshot_id", vol.snapshotId],
      ["ovf:parentRef", parentRef],
      ["ovf:fileRef", href(disk, vol)],
      ["ovf:format", vol.format === "cow" ? COW_URL : RAW_URL],
      ["ovf:volume-format", vol.format === "cow" ? "COW" : "RAW"],
      ["ovf:volume-type", vol.sparse ? "Sparse" : "Preallocated"],
      ["ovf:disk-interface", INTERFACE[a.interface]],
      ["ovf:read-only", a.readOnly],
      ["ovf:shareable", false],
      ["ovf:boot", a.bootable],
      ["ovf:pass-discard", a.passDiscard],
      ["ovf:incremental-backup", disk.incrementalBackup],
      ["ovf:disk-alias", disk.alias],
    ];
    if (disk.description) pairs.push(["ovf:disk-description", disk.description]);
    pairs.push(["ovf:wipe-after-delete", disk.wipeAfterDelete]);
    diskSection += `<Disk${attrs(pairs)}></Disk>`;
  }
  diskSection += "</Section>";

  const memMb = Math.round(vm.memory / 2 ** 20);
  const vcpus = vm.cpu.sockets * vm.cpu.cores * vm.cpu.threads;
  let content = `<Content ovf:id="out" xsi:type="ovf:VirtualSystem_Type">`;
  content +=
    el("Name", vm.name) +
    el("Description", vm.description) +
    el("Comment", vm.comment) +
    el("CreationDate", ovfDate(vm.creationTime)) +
    el("ExportDate", ovfDate(input.exportDate)) +
    el("DeleteProtected", false) +
    el("SsoMethod", "guest_agent") +
    el("IsSmartcardEnabled", false) +
    el("NumOfIoThreads", 1) +
    el("TimeZone", "Etc/GMT") +
    el("default_boot_sequence", 0) +
    el("Generation", vm.generation) +
    el("ClusterCompatibilityVersion", "4.7") +
    el("VmType", vm.type === "desktop" ? 0 : vm.type === "server" ? 1 : 2) +
    el("ResumeBehavior", "AUTO_RESUME") +
    el("MinAllocatedMem", memMb) +
    el("IsStateless", false) +
    el("IsRunAndPause", false) +
    el("AutoStartup", false) +
    el("Priority", 1) +
    el("MigrationSupport", 0) +
    el("IsBootMenuEnabled", false) +
    el("IsSpiceFileTransferEnabled", true) +
    el("IsSpiceCopyPasteEnabled", true) +
    el("AllowConsoleReconnect", false) +
    el("ConsoleDisconnectAction", "LOCK_SCREEN") +
    el("ConsoleDisconnectActionDelay", 0) +
    el("CustomEmulatedMachine", "") +
    el("BiosType", vm.biosType) +
    el("CustomCpuName", "") +
    el("PredefinedProperties", "") +
    el("UserDefinedProperties", "") +
    el("MaxMemorySizeMb", memMb * 4) +
    el("MultiQueuesEnabled", true) +
    el("VirtioScsiMultiQueuesEnabled", false) +
    el("UseHostCpu", false) +
    el("BalloonEnabled", true) +
    el("CpuPinningPolicy", 0) +
    el("ClusterName", input.clusterName) +
    el("TemplateId", EMPTY_GUID) +
    el("TemplateName", "Blank") +
    el("IsInitilized", true) +
    el("Origin", 3) +
    el("DefaultDisplayType", 1) +
    el("TrustedService", false) +
    el("OriginalTemplateId", EMPTY_GUID) +
    el("OriginalTemplateName", "Blank") +
    el("UseLatestVersion", false);
  content += `<Section${attrs([
    ["ovf:id", vm.id],
    ["ovf:required", false],
    ["xsi:type", "ovf:OperatingSystemSection_Type"],
  ])}><Info>Guest Operating System</Info>${el("Description", vm.osType)}</Section>`;

  let hw = `<Section xsi:type="ovf:VirtualHardwareSection_Type"><Info>${vcpus} CPU, ${memMb} Memory</Info><System><vssd:VirtualSystemType>ENGINE ${VDC_VERSION}</vssd:VirtualSystemType></System>`;
  hw +=
    `<Item>${el("rasd:Caption", `${vcpus} virtual cpu`)}${el("rasd:Description", "Number of virtual CPU")}` +
    `${el("rasd:InstanceId", 1)}${el("rasd:ResourceType", 3)}${el("rasd:num_of_sockets", vm.cpu.sockets)}` +
    `${el("rasd:cpu_per_socket", vm.cpu.cores)}${el("rasd:threads_per_cpu", vm.cpu.threads)}` +
    `${el("rasd:max_num_of_vcpus", Math.max(16, vcpus))}${el("rasd:VirtualQuantity", vcpus)}</Item>`;
  hw +=
    `<Item>${el("rasd:Caption", `${memMb} MB of memory`)}${el("rasd:Description", "Memory Size")}` +
    `${el("rasd:InstanceId", 2)}${el("rasd:ResourceType", 4)}${el("rasd:AllocationUnits", "MegaBytes")}` +
    `${el("rasd:VirtualQuantity", memMb)}</Item>`;
  for (const { disk, vol } of vols) {
    const child = disk.volumes.find((v) => v.parentId === vol.id);
    hw +=
      `<Item>${el("rasd:Caption", disk.alias)}${el("rasd:InstanceId", vol.id)}${el("rasd:ResourceType", 17)}` +
      `${el("rasd:HostResource", href(disk, vol))}${el("rasd:Parent", vol.parentId ?? EMPTY_GUID)}` +
      `${el("rasd:Template", EMPTY_GUID)}${el("rasd:ApplicationList", "")}` +
      (input.includeStorageIds ? el("rasd:StorageId", disk.storageDomainId) : "") +
      `${el("rasd:StoragePoolId", input.dataCenterId)}${el("rasd:CreationDate", ovfDate(vol.creationTime))}` +
      `${el("rasd:LastModified", ovfDate(0))}${el("rasd:last_modified_date", ovfDate(child ? child.creationTime : vol.lastModified))}` +
      deviceBlock({
        type: "disk",
        device: "disk",
        address: diskAddress(disk),
        bootOrder: disk.attachment.bootable ? 1 : 0,
        plugged: disk.attachment.active,
        readOnly: disk.attachment.readOnly,
        alias: `ua-${disk.id}`,
      }) +
      "</Item>";
  }
  vm.nics.forEach((n: NicRec, i: number) => {
    hw +=
      `<Item>${el("rasd:Caption", n.network ? `Ethernet adapter on ${n.network}` : "Ethernet adapter on [No Network]")}` +
      `${el("rasd:InstanceId", n.id)}${el("rasd:ResourceType", 10)}${el("rasd:OtherResourceType", n.profile)}` +
      `${el("rasd:ResourceSubType", n.model)}${el("rasd:Connection", n.network)}${el("rasd:Linked", n.linked)}` +
      `${el("rasd:Name", n.name)}${el("rasd:ElementName", n.name)}${el("rasd:MACAddress", n.mac)}` +
      `${el("rasd:speed", n.model === 3 ? 10000 : 1000)}` +
      deviceBlock({
        type: "interface",
        device: "bridge",
        address: `{type=pci, slot=0x${(3 + i).toString(16).padStart(2, "0")}, bus=0x01, domain=0x0000, function=0x0}`,
        bootOrder: 0,
        plugged: n.plugged,
        readOnly: false,
        alias: `ua-${n.id}`,
      }) +
      "</Item>";
  });
  const devId = (n: number) => `${vm.id.slice(0, 24)}${(0xd0 + n).toString(16).padStart(12, "0")}`;
  hw += `<Item>${el("rasd:Caption", "USB Controller")}${el("rasd:InstanceId", 3)}${el("rasd:ResourceType", 23)}${el("rasd:UsbPolicy", "DISABLED")}</Item>`;
  hw +=
    `<Item>${el("rasd:Caption", "Graphical Controller")}${el("rasd:InstanceId", devId(1))}${el("rasd:ResourceType", 20)}` +
    `${el("rasd:VirtualQuantity", 1)}${el("rasd:SinglePciQxl", false)}` +
    deviceBlock({
      type: "video",
      device: "qxl",
      address: "",
      bootOrder: 0,
      plugged: true,
      readOnly: false,
      alias: "",
      specParams: "<vram>16384</vram><heads>1</heads><ram>65536</ram><vgamem>16384</vgamem>",
    }) +
    "</Item>";
  hw +=
    `<Item>${el("rasd:Caption", "Graphical Framebuffer")}${el("rasd:InstanceId", devId(2))}${el("rasd:ResourceType", 26)}` +
    deviceBlock({
      type: "graphics",
      device: "spice",
      address: "",
      bootOrder: 0,
      plugged: true,
      readOnly: false,
      alias: "",
    }) +
    "</Item>";
  hw +=
    `<Item>${el("rasd:Caption", "CDROM")}${el("rasd:InstanceId", devId(3))}${el("rasd:ResourceType", 15)}` +
    deviceBlock({
      type: "disk",
      device: "cdrom",
      address: "{type=drive, bus=0, controller=0, target=0, unit=2}",
      bootOrder: 0,
      plugged: true,
      readOnly: true,
      alias: `ua-${devId(3)}`,
      specParams: "<path></path>",
    }) +
    "</Item>";
  const other = (n: number, type: string, device: string, readOnly: boolean, spec?: string) =>
    `<Item>${el("rasd:ResourceType", 0)}${el("rasd:InstanceId", devId(n))}` +
    deviceBlock({
      type,
      device,
      address: "",
      bootOrder: 0,
      plugged: true,
      readOnly,
      alias: "",
      specParams: spec,
    }) +
    "</Item>";
  hw += other(4, "balloon", "memballoon", true, "<model>virtio</model>");
  hw += other(5, "controller", "virtio-scsi", false, "<index>0</index>");
  hw += other(6, "controller", "virtio-serial", false);
  hw += other(7, "rng", "virtio", false, "<source>urandom</source>");
  hw += "</Section>";
  content += hw;

  if (input.snapshots && input.snapshots.length > 0) {
    content += `<Section xsi:type="ovf:SnapshotsSection_Type">`;
    for (const s of input.snapshots) {
      content +=
        `<Snapshot${attrs([["ovf:id", s.id]])}>${el("Type", s.type)}${el("Description", s.description)}` +
        `${el("CreationDate", ovfDate(s.date))}${el("ApplicationList", "")}` +
        (s.configuration !== undefined
          ? el("VmConfiguration", Buffer.from(s.configuration, "utf8").toString("base64"))
          : "") +
        "</Snapshot>";
    }
    content += "</Section>";
  }
  content += "</Content>";

  return (
    `<?xml version="1.0" encoding="UTF-8"?><ovf:Envelope${attrs([
      ["xmlns:ovf", OVF_NS],
      ["xmlns:rasd", RASD_NS],
      ["xmlns:vssd", VSSD_NS],
      ["xmlns:xsi", XSI_NS],
      ["ovf:version", VDC_VERSION],
    ])}>` +
    refs +
    netSection +
    diskSection +
    content +
    "</ovf:Envelope>"
  );
}
