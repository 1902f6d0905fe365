import type { EngineFaultBody } from "@lifeboat/ovirt-protocol";
import type {
  AttachmentRec,
  BackupRec,
  CheckpointRec,
  ClusterRec,
  DiskRec,
  EventRec,
  JobRec,
  NicRec,
  SnapshotRec,
  StorageDomainRec,
  TransferRec,
  VmRec,
  VolumeRec,
} from "../model";
import { EMPTY_GUID } from "../util/ids";
import type { Engine } from "./engine";

/**
 * The engine's JSON (ovirt-protocol.md §1.2, §3): booleans and integers as strings, dates as epoch-ms
 * numbers, `{id, href}` links, `link` and `actions.link` arrays, plural wrappers with singular arrays, and an
 * empty collection as `{}`.
 */
export const API = "/ovirt-engine/api";
type J = Record<string, unknown>;

export const ref = (kind: string, id: string): J => ({ href: `${API}/${kind}/${id}`, id });
const s = (v: boolean | number) => String(v);
const links = (base: string, rels: string[]) => rels.map((rel) => ({ href: `${base}/${rel}`, rel }));
const actions = (base: string, rels: string[]) => ({ link: links(base, rels) });

export function collection(key: string, items: unknown[]): J {
  return items.length > 0 ? { [key]: items } : {};
}

export function faultJson(reason: string, detail: string): EngineFaultBody {
  return { detail, reason };
}

export function vmJson(e: Engine, vm: VmRec, opts: { allContent?: boolean } = {}): J {
  const href = `${API}/vms/${vm.id}`;
  const j: J = {
    next_run_configuration_exists: "false",
    numa_tune_mode: "interleave",
    status: vm.status,
    original_template: ref("templates", EMPTY_GUID),
    template: ref("templates", EMPTY_GUID),
    actions: actions(href, [
      "clone",
      "commitsnapshot",
      "detach",
      "export",
      "previewsnapshot",
      "reboot",
      "shutdown",
      "start",
      "stop",
      "suspend",
      "undosnapshot",
    ]),
    name: vm.name,
    description: vm.description,
    comment: vm.comment,
    href,
    id: vm.id,
    bios: {
      boot_menu: { enabled: "false" },
      type:
        ["i440fx_sea_bios", "q35_sea_bios", "q35_ovmf", "q35_secure_boot"][vm.biosType] ?? "i440fx_sea_bios",
    },
    cpu: {
      architecture: "x86_64",
      topology: { cores: s(vm.cpu.cores), sockets: s(vm.cpu.sockets), threads: s(vm.cpu.threads) },
    },
    creation_time: vm.creationTime,
    delete_protected: "false",
    high_availability: { enabled: "false", priority: "0" },
    memory: s(vm.memory),
    memory_policy: { guaranteed: s(vm.memory), max: s(vm.memory * 4) },
    os: { boot: { devices: { device: ["hd"] } }, type: vm.osType },
    stateless: "false",
    type: vm.type,
    usb: { enabled: "false" },
    cluster: ref("clusters", vm.clusterId),
    cpu_profile: ref("cpuprofiles", vm.clusterId),
    has_illegal_images: s(e.disksOf(vm).some((d) => d.status === "illegal")),
    link: links(href, [
      "affinitylabels",
      "applications",
      "backups",
      "cdroms",
      "checkpoints",
      "diskattachments",
      "graphicsconsoles",
      "hostdevices",
      "katelloerrata",
      "nics",
      "numanodes",
      "permissions",
      "reporteddevices",
      "sessions",
      "snapshots",
      "statistics",
      "tags",
      "watchdogs",
    ]),
  };
  if (vm.status === "up") {
    j.host = ref("hosts", e.data.host.id);
    j.start_time = vm.creationTime;
  } else if (vm.status === "down") j.stop_time = vm.creationTime;
  if (opts.allContent) {
    const ovf = e.ovfOf(vm);
    if (ovf !== null) j.initialization = { configuration: { data: ovf, type: "ovf" } };
    j.console = { enabled: "false" };
    j.rng_source = { source: "urandom" };
    j.soundcard_enabled = "false";
    j.virtio_scsi = { enabled: "true" };
  }
  return j;
}

function sdRefs(disk: DiskRec): J {
  return { storage_domain: [ref("storagedomains", disk.storageDomainId)] };
}

export function diskJson(e: Engine, disk: DiskRec, override?: { vol: VolumeRec; href: string }): J {
  const href = override?.href ?? `${API}/disks/${disk.id}`;
  const active = override?.vol ?? e.activeVolume(disk);
  const total = disk.volumes.reduce((sum, v) => sum + e.actualSize(disk, v), 0);
  const j: J = {
    actions: actions(href, ["copy", "export", "move", "reduce", "refreshlun", "sparsify"]),
    alias: disk.alias,
    name: disk.alias,
    description: disk.description,
    href,
    id: disk.id,
    actual_size: s(e.actualSize(disk, active)),
    backup: disk.backup,
    content_type: disk.contentType,
    format: active.format,
    image_id: active.id,
    propagate_errors: s(disk.propagateErrors),
    provisioned_size: s(disk.provisionedSize),
    shareable: s(disk.shareable),
    sparse: s(active.sparse),
    status: disk.status,
    storage_type: "image",
    total_size: s(total),
    wipe_after_delete: s(disk.wipeAfterDelete),
    disk_profile: ref("diskprofiles", disk.storageDomainId),
    quota: ref(`datacenters/${e.data.dataCenter.id}/quotas`, e.data.dataCenter.id),
    storage_domains: sdRefs(disk),
    link: links(href, ["disksnapshots", "permissions", "statistics"]),
  };
  if (active.format === "cow") j.qcow_version = "qcow2_v3";
  return j;
}

export function diskSnapshotJson(e: Engine, disk: DiskRec, vol: VolumeRec, base: string): J {
  const href = `${base}/${vol.id}`;
  const j: J = {
    alias: disk.alias,
    name: disk.alias,
    description: disk.description,
    href,
    id: vol.id,
    actual_size: s(e.actualSize(disk, vol)),
    backup: disk.backup,
    content_type: disk.contentType,
    format: vol.format,
    propagate_errors: s(disk.propagateErrors),
    provisioned_size: s(disk.provisionedSize),
    shareable: s(disk.shareable),
    sparse: s(vol.sparse),
    status: disk.status,
    storage_type: "image",
    total_size: "0",
    wipe_after_delete: s(disk.wipeAfterDelete),
    disk: ref("disks", disk.id),
    storage_domains: sdRefs(disk),
  };
  if (vol.format === "cow") j.qcow_version = "qcow2_v3";
  if (vol.parentId) j.parent = { href: `${base}/${vol.parentId}`, id: vol.parentId };
  if (vol.snapshotId) {
    const vm = e.vmOfDisk(disk.id);
    j.snapshot = vm ? ref(`vms/${vm.id}/snapshots`, vol.snapshotId) : { id: vol.snapshotId };
  }
  return j;
}

export function attachmentJson(vm: VmRec, a: AttachmentRec): J {
  const href = `${API}/vms/${vm.id}/diskattachments/${a.diskId}`;
  return {
    active: s(a.active),
    bootable: s(a.bootable),
    interface: a.interface,
    pass_discard: s(a.passDiscard),
    read_only: s(a.readOnly),
    uses_scsi_reservation: s(a.usesScsiReservation),
    disk: ref("disks", a.diskId),
    vm: ref("vms", vm.id),
    href,
    id: a.diskId,
  };
}

export function nicJson(vm: VmRec, n: NicRec): J {
  const models: Record<number, string> = {
    0: "rtl8139_virtio",
    1: "rtl8139",
    2: "e1000",
    3: "virtio",
    6: "e1000e",
  };
  return {
    href: `${API}/vms/${vm.id}/nics/${n.id}`,
    id: n.id,
    name: n.name,
    interface: models[n.model] ?? "virtio",
    linked: s(n.linked),
    mac: { address: n.mac },
    plugged: s(n.plugged),
    synced: "true",
    vm: ref("vms", vm.id),
    vnic_profile: ref(
      "vnicprofiles",
      `00000000-0000-4000-8000-${Buffer.from(n.profile || "none")
        .toString("hex")
        .padEnd(12, "0")
        .slice(0, 12)}`,
    ),
  };
}

export function snapshotJson(snap: SnapshotRec, opts: { allContent?: boolean } = {}): J {
  const href = `${API}/vms/${snap.vmId}/snapshots/${snap.id}`;
  const j: J = {
    actions: actions(href, snap.type === "regular" ? ["restore"] : []),
    description: snap.description,
    href,
    id: snap.id,
    date: snap.date,
    persist_memorystate: s(snap.persistMemory),
    snapshot_status: snap.status,
    snapshot_type: snap.type,
    vm: ref("vms", snap.vmId),
    link: links(href, ["cdroms", "disks", "nics"]),
  };
  if (snap.type === "active") delete j.actions;
  if (opts.allContent && snap.type === "regular" && snap.ovf)
    j.initialization = { configuration: { data: snap.ovf, type: "ovf" } };
  return j;
}

export function storageDomainJson(e: Engine, sd: StorageDomainRec, opts: { inDataCenter?: boolean } = {}): J {
  const href = `${API}/storagedomains/${sd.id}`;
  const used = e.data.disks
    .filter((d) => d.storageDomainId === sd.id)
    .reduce((sum, d) => sum + d.volumes.reduce((x, v) => x + e.actualSize(d, v), 0), 0);
  const committed = e.data.disks
    .filter((d) => d.storageDomainId === sd.id)
    .reduce((sum, d) => sum + d.provisionedSize, 0);
  const j: J = {
    name: sd.name,
    description: "",
    comment: "",
    href,
    id: sd.id,
    available: s(Math.max(0, sd.capacity - used)),
    backup: "false",
    block_size: "512",
    committed: s(committed),
    critical_space_action_blocker: "5",
    discard_after_delete: "false",
    external_status: "ok",
    master: s(sd.master),
    storage:
      sd.storageType === "nfs"
        ? { address: sd.address, path: sd.path, type: "nfs" }
        : { type: "iscsi", volume_group: { id: sd.path } },
    storage_format: "v5",
    supports_discard: s(sd.storageType === "iscsi"),
    supports_discard_zeroes_data: "false",
    type: "data",
    used: s(used),
    warning_low_space_indicator: "10",
    wipe_after_delete: "false",
    data_centers: { data_center: [ref("datacenters", e.data.dataCenter.id)] },
    link: links(href, [
      "diskprofiles",
      "disks",
      "disksnapshots",
      "files",
      "images",
      "permissions",
      "storageconnections",
      "templates",
      "vms",
    ]),
  };
  if (opts.inDataCenter) j.status = "active";
  return j;
}

export function dataCenterJson(e: Engine): J {
  const dc = e.data.dataCenter;
  const href = `${API}/datacenters/${dc.id}`;
  return {
    name: dc.name,
    description: "The default Data Center",
    href,
    id: dc.id,
    local: "false",
    quota_mode: "disabled",
    status: "up",
    storage_format: "v5",
    supported_versions: {
      version: ["4.4", "4.5", "4.6", "4.7", "4.8"].map((v) => ({ major: "4", minor: v.slice(2) })),
    },
    version: { major: "4", minor: "7" },
    mac_pool: ref("macpools", dc.id),
    link: links(href, [
      "clusters",
      "iscsibonds",
      "networks",
      "permissions",
      "qoss",
      "quotas",
      "storagedomains",
    ]),
  };
}

export function clusterJson(c: ClusterRec): J {
  const [major, minor] = c.level.split(".");
  const href = `${API}/clusters/${c.id}`;
  return {
    name: c.name,
    description: "The default server cluster",
    href,
    id: c.id,
    cpu: { architecture: "x86_64", type: "Secure Intel Cascadelake Server Family" },
    version: { major, minor },
    data_center: ref("datacenters", c.dataCenterId),
    link: links(href, ["affinitygroups", "cpuprofiles", "networks", "permissions"]),
  };
}

export function hostJson(e: Engine): J {
  const h = e.data.host;
  const href = `${API}/hosts/${h.id}`;
  return {
    name: h.name,
    href,
    id: h.id,
    address: h.address,
    status: "up",
    type: "rhel",
    cluster: ref("clusters", h.clusterId),
    link: links(href, ["nics", "permissions", "statistics", "storage"]),
  };
}

export function transferJson(e: Engine, t: TransferRec): J {
  const href = `${API}/imagetransfers/${t.id}`;
  const found = e.findVolume(t.volumeId);
  const j: J = {
    actions: actions(href, ["cancel", "extend", "finalize", "pause", "resume"]),
    href,
    id: t.id,
    active: s((e.tickets.get(t.ticketId)?.inflight ?? 0) > 0),
    direction: t.direction,
    format: t.format ?? found?.vol.format ?? "cow",
    inactivity_timeout: s(t.inactivityTimeout),
    phase: t.phase,
    shallow: s(t.shallow),
    timeout_policy: t.timeoutPolicy,
    transferred: s(e.tickets.get(t.ticketId)?.transferred ?? t.transferred),
    disk: ref("disks", t.diskId),
    host: ref("hosts", t.hostId),
    image: { id: t.diskId },
  };
  if (t.phase !== "initializing") {
    j.proxy_url = e.transfers.proxyUrl(t);
    j.transfer_url = e.transfers.transferUrl(t);
  }
  if (t.targetSnapshot) j.snapshot = { id: t.volumeId };
  if (t.backupId) j.backup = { id: t.backupId };
  return j;
}

export function backupJson(b: BackupRec): J {
  const href = `${API}/vms/${b.vmId}/backups/${b.id}`;
  const j: J = {
    actions: actions(href, ["finalize"]),
    description: b.description,
    href,
    id: b.id,
    creation_date: b.creationDate,
    modification_date: b.modificationDate,
    phase: b.phase,
    host: ref("hosts", b.hostId),
    vm: ref("vms", b.vmId),
    link: links(href, ["disks"]),
  };
  if (b.fromCheckpointId) j.from_checkpoint_id = b.fromCheckpointId;
  if (b.toCheckpointId) j.to_checkpoint_id = b.toCheckpointId;
  if (b.snapshotId) j.snapshot = ref(`vms/${b.vmId}/snapshots`, b.snapshotId);
  return j;
}

export function checkpointJson(c: CheckpointRec): J {
  const href = `${API}/vms/${c.vmId}/checkpoints/${c.id}`;
  const j: J = {
    description: c.description,
    href,
    id: c.id,
    creation_date: c.creationDate,
    state: c.state,
    vm: ref("vms", c.vmId),
    link: links(href, ["disks"]),
  };
  if (c.parentId) j.parent_id = c.parentId;
  return j;
}

export function jobJson(job: JobRec): J {
  const href = `${API}/jobs/${job.id}`;
  const j: J = {
    actions: actions(href, ["clear", "end"]),
    description: job.description,
    href,
    id: job.id,
    auto_cleared: "true",
    external: "false",
    last_updated: job.lastUpdated,
    start_time: job.startTime,
    status: job.status,
    owner: ref("users", "00000000-0000-4000-8000-0000000000a1"),
    link: links(href, ["steps"]),
  };
  if (job.endTime !== undefined) j.end_time = job.endTime;
  return j;
}

export function eventJson(ev: EventRec): J {
  const j: J = {
    description: ev.description,
    href: `${API}/events/${ev.id}`,
    id: s(ev.id),
    code: s(ev.code),
    custom_id: "-1",
    flood_rate: "30",
    origin: "oVirt",
    severity: ev.severity,
    time: ev.time,
  };
  if (ev.correlationId) j.correlation_id = ev.correlationId;
  if (ev.vmId) j.vm = ref("vms", ev.vmId);
  return j;
}
