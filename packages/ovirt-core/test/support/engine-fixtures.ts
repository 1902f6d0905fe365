/**
 * Engine JSON in the shapes ref §1.2 and §3 describe: string booleans and integers, epoch-ms dates, link objects
 * with id + href, `actions.link` / `link` arrays. IDs are fake.
 */
const API = "/ovirt-engine/api";

export const ids = {
  vm: "3a1e9a4e-0000-4000-8000-00000000a001",
  cluster: "c0000000-0000-4000-8000-000000000001",
  dc: "dc000000-0000-4000-8000-000000000001",
  disk: "d1d1d1d1-0000-4000-8000-00000000d001",
  vol1: "a1a1a1a1-0000-4000-8000-00000000e001",
  vol2: "a2a2a2a2-0000-4000-8000-00000000e002",
  vol3: "a3a3a3a3-0000-4000-8000-00000000e003",
  sd: "5d5d5d5d-0000-4000-8000-00000000f001",
  snap: "5b9c0b1e-0000-4000-8000-00000000b001",
  transfer: "7e7e7e7e-0000-4000-8000-0000000007e1",
  ticket: "9c9c9c9c-0000-4000-8000-000000000009",
  host: "h0h0h0h0-0000-4000-8000-000000000001",
};

const link = (kind: string, id: string) => ({ id, href: `${API}/${kind}/${id}` });

export function vmJson(over: Record<string, unknown> = {}) {
  return {
    id: ids.vm,
    href: `${API}/vms/${ids.vm}`,
    name: "db01",
    description: "",
    status: "up",
    memory: "4294967296",
    stateless: "false",
    delete_protected: "false",
    type: "server",
    creation_time: 1714554000000,
    cpu: { topology: { sockets: "2", cores: "1", threads: "1" } },
    os: { type: "rhel_8x64", boot: { devices: { device: ["hd"] } } },
    cluster: link("clusters", ids.cluster),
    template: link("templates", "00000000-0000-0000-0000-000000000000"),
    actions: { link: [{ href: `${API}/vms/${ids.vm}/shutdown`, rel: "shutdown" }] },
    link: [
      { href: `${API}/vms/${ids.vm}/diskattachments`, rel: "diskattachments" },
      { href: `${API}/vms/${ids.vm}/snapshots`, rel: "snapshots" },
    ],
    ...over,
  };
}

export const OVF =
  "<?xml version='1.0' encoding='UTF-8'?>\n<ovf:Envelope xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1/\"><Content/></ovf:Envelope>";

export function vmWithOvf(over: Record<string, unknown> = {}) {
  return vmJson({ initialization: { configuration: { type: "ovf", data: OVF } }, ...over });
}

export function snapshotJson(over: Record<string, unknown> = {}) {
  return {
    id: ids.snap,
    href: `${API}/vms/${ids.vm}/snapshots/${ids.snap}`,
    description: "backup-2024-05-01T02:00Z",
    date: 1714528800000,
    persist_memorystate: "false",
    snapshot_status: "ok",
    snapshot_type: "regular",
    vm: link("vms", ids.vm),
    actions: { link: [{ href: `${API}/vms/${ids.vm}/snapshots/${ids.snap}/restore`, rel: "restore" }] },
    link: [{ href: `${API}/vms/${ids.vm}/snapshots/${ids.snap}/disks`, rel: "disks" }],
    ...over,
  };
}

export function diskJson(over: Record<string, unknown> = {}) {
  return {
    id: ids.disk,
    href: `${API}/disks/${ids.disk}`,
    alias: "db01_Disk1",
    name: "db01_Disk1",
    image_id: ids.vol3,
    provisioned_size: "21474836480",
    actual_size: "1879048192",
    total_size: "5637144576",
    format: "cow",
    qcow_version: "qcow2_v3",
    sparse: "true",
    status: "ok",
    content_type: "data",
    storage_type: "image",
    backup: "incremental",
    shareable: "false",
    wipe_after_delete: "false",
    propagate_errors: "false",
    storage_domains: { storage_domain: [link("storagedomains", ids.sd)] },
    disk_profile: link("diskprofiles", "dp000000-0000-4000-8000-000000000001"),
    actions: { link: [{ href: `${API}/disks/${ids.disk}/copy`, rel: "copy" }] },
    link: [{ href: `${API}/disks/${ids.disk}/disksnapshots`, rel: "disksnapshots" }],
    ...over,
  };
}

export function diskSnapshotJson(id: string, over: Record<string, unknown> = {}) {
  return {
    id,
    href: `${API}/storagedomains/${ids.sd}/disksnapshots/${id}`,
    alias: "db01_Disk1",
    format: "cow",
    sparse: "true",
    status: "ok",
    actual_size: "1073741824",
    provisioned_size: "21474836480",
    content_type: "data",
    disk: link("disks", ids.disk),
    storage_domains: { storage_domain: [{ id: ids.sd }] },
    ...over,
  };
}

export function attachmentJson(over: Record<string, unknown> = {}) {
  return {
    id: ids.disk,
    href: `${API}/vms/${ids.vm}/diskattachments/${ids.disk}`,
    active: "true",
    bootable: "true",
    interface: "virtio_scsi",
    pass_discard: "false",
    read_only: "false",
    uses_scsi_reservation: "false",
    disk: link("disks", ids.disk),
    vm: link("vms", ids.vm),
    ...over,
  };
}

export function storageDomainJson(over: Record<string, unknown> = {}) {
  return {
    id: ids.sd,
    href: `${API}/storagedomains/${ids.sd}`,
    name: "data1",
    type: "data",
    external_status: "ok",
    master: "true",
    storage_format: "v5",
    available: "812354748416",
    used: "261993005056",
    committed: "343597383680",
    block_size: "512",
    backup: "false",
    storage: { type: "nfs", address: "nas.example.com", path: "/exports/data1" },
    data_centers: { data_center: [link("datacenters", ids.dc)] },
    ...over,
  };
}

export function clusterJson(over: Record<string, unknown> = {}) {
  return {
    id: ids.cluster,
    href: `${API}/clusters/${ids.cluster}`,
    name: "Default",
    description: "The default server cluster",
    cpu: { architecture: "x86_64", type: "Intel Nehalem Family" },
    version: { major: "4", minor: "7" },
    data_center: link("datacenters", ids.dc),
    ...over,
  };
}

export function transferJson(phase: string, over: Record<string, unknown> = {}) {
  return {
    id: ids.transfer,
    href: `${API}/imagetransfers/${ids.transfer}`,
    active: "false",
    direction: "download",
    format: "raw",
    inactivity_timeout: "120",
    phase,
    shallow: "true",
    timeout_policy: "cancel",
    transferred: "0",
    transfer_url: `https://host1.example.com:54322/images/${ids.ticket}`,
    proxy_url: `https://engine.example.com:54323/images/${ids.ticket}`,
    snapshot: { id: ids.vol2 },
    disk: link("disks", ids.disk),
    host: link("hosts", ids.host),
    image: { id: ids.disk },
    actions: {
      link: [
        { href: `${API}/imagetransfers/${ids.transfer}/cancel`, rel: "cancel" },
        { href: `${API}/imagetransfers/${ids.transfer}/finalize`, rel: "finalize" },
      ],
    },
    ...over,
  };
}

export function fault(detail: string, reason = "Operation Failed") {
  return { reason, detail };
}
