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

export function fault(detail: string, reason = "Operation Failed") {
  return { reason, detail };
}
