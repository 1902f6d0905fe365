import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { finalize, startTransfer } from "./support/flows";
import { type Json, startTestSim, type TestSim } from "./support/sim";

/**
 * The example payloads of ovirt-protocol.md §3 (fake ids, trimmed to their fields): every field they show
 * must be present in the simulator's answer with the same JSON type (string for booleans and integers,
 * number for dates, objects for links, arrays for link lists).
 */
const EXAMPLES: Record<string, Json> = {
  vm: {
    id: "3a1e9a4e-0000-4000-8000-00000000a001",
    href: "/ovirt-engine/api/vms/3a1e9a4e-0000-4000-8000-00000000a001",
    name: "db01",
    status: "up",
    memory: "4294967296",
    stateless: "false",
    type: "server",
    creation_time: 1714554000000,
    cpu: { topology: { sockets: "2", cores: "1", threads: "1" } },
    cluster: { id: "c", href: "/ovirt-engine/api/clusters/c" },
    template: { id: "t", href: "/ovirt-engine/api/templates/t" },
    actions: { link: [{ href: "/x/shutdown", rel: "shutdown" }] },
    link: [{ href: "/x/diskattachments", rel: "diskattachments" }],
  },
  snapshot: {
    id: "5b9c0b1e-0000-4000-8000-00000000b001",
    href: "/ovirt-engine/api/vms/3a1e/snapshots/5b9c0b1e",
    description: "backup-2024-05-01T02:00Z",
    date: 1714528800000,
    persist_memorystate: "false",
    snapshot_status: "ok",
    snapshot_type: "regular",
    vm: { id: "v", href: "/ovirt-engine/api/vms/v" },
    actions: { link: [{ href: ".../restore", rel: "restore" }] },
    link: [{ href: ".../disks", rel: "disks" }],
  },
  disk: {
    id: "d1d1d1d1-0000-4000-8000-00000000d001",
    href: "/ovirt-engine/api/disks/d1d1d1d1-0000-4000-8000-00000000d001",
    alias: "db01_Disk1",
    name: "db01_Disk1",
    image_id: "a3a3a3a3-0000-4000-8000-00000000e003",
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
    storage_domains: { storage_domain: [{ id: "s", href: "/ovirt-engine/api/storagedomains/s" }] },
    disk_profile: { id: "p", href: "/ovirt-engine/api/diskprofiles/p" },
    actions: { link: [{ href: ".../copy", rel: "copy" }] },
    link: [{ href: "/ovirt-engine/api/disks/d1d1/disksnapshots", rel: "disksnapshots" }],
  },
  disk_attachment: {
    id: "d1d1d1d1-0000-4000-8000-00000000d001",
    href: "/ovirt-engine/api/vms/3a1e/diskattachments/d1d1",
    active: "true",
    bootable: "true",
    interface: "virtio_scsi",
    pass_discard: "false",
    read_only: "false",
    uses_scsi_reservation: "false",
    disk: { id: "d", href: "/ovirt-engine/api/disks/d" },
    vm: { id: "v", href: "/ovirt-engine/api/vms/v" },
  },
  disk_snapshot: {
    id: "a2a2a2a2-0000-4000-8000-00000000e002",
    href: "/ovirt-engine/api/storagedomains/5d5d/disksnapshots/a2a2",
    alias: "db01_Disk1",
    format: "cow",
    sparse: "false",
    status: "ok",
    actual_size: "1073741824",
    provisioned_size: "21474836480",
    content_type: "data",
    disk: { id: "d" },
    snapshot: { id: "s" },
    parent: { id: "p", href: "..." },
    storage_domains: { storage_domain: [{ id: "s" }] },
  },
  storage_domain: {
    id: "5d5d5d5d-0000-4000-8000-00000000f001",
    href: "/ovirt-engine/api/storagedomains/5d5d",
    name: "data1",
    type: "data",
    external_status: "ok",
    master: "true",
    storage_format: "v5",
    available: "812354748416",
    used: "261993005056",
    committed: "343597383680",
    block_size: "512",
    storage: { type: "nfs", address: "nas.example.com", path: "/exports/data1" },
    data_centers: { data_center: [{ id: "x", href: "y" }] },
  },
  image_transfer: {
    id: "7e7e7e7e-0000-4000-8000-0000000007e1",
    href: "/ovirt-engine/api/imagetransfers/7e7e",
    active: "false",
    direction: "download",
    format: "raw",
    inactivity_timeout: "120",
    phase: "transferring",
    shallow: "true",
    timeout_policy: "cancel",
    transferred: "0",
    transfer_url: "https://host1.example.com:54322/images/9c9c",
    proxy_url: "https://engine.example.com:54323/images/9c9c",
    snapshot: { id: "a2a2" },
    disk: { id: "d", href: "/ovirt-engine/api/disks/d" },
    host: { id: "h", href: "/ovirt-engine/api/hosts/h" },
    image: { id: "d" },
    actions: { link: [{ href: ".../cancel", rel: "cancel" }] },
  },
};

function kind(v: unknown): string {
  return Array.isArray(v) ? "array" : v === null ? "null" : typeof v;
}

/** Same keys (at least) with the same JSON types, recursively into objects and the first array element. */
function sameShape(example: Json, actual: Json, at: string): string[] {
  const problems: string[] = [];
  for (const [k, ev] of Object.entries(example)) {
    const av = actual?.[k];
    if (av === undefined) {
      problems.push(`${at}.${k} is missing`);
      continue;
    }
    if (kind(ev) !== kind(av)) problems.push(`${at}.${k} is ${kind(av)}, expected ${kind(ev)}`);
    else if (kind(ev) === "object") problems.push(...sameShape(ev, av, `${at}.${k}`));
    else if (kind(ev) === "array" && kind((ev as Json[])[0]) === "object" && (av as Json[]).length > 0)
      problems.push(...sameShape((ev as Json[])[0], (av as Json[])[0], `${at}.${k}[0]`));
  }
  return problems;
}

let t: TestSim;

beforeAll(async () => {
  t = await startTestSim();
});
afterAll(async () => {
  await t.stop();
});

describe("JSON shapes against the reference examples", () => {
  it("matches Vm, Snapshot, Disk, DiskAttachment, DiskSnapshot, StorageDomain and ImageTransfer", async () => {
    const app = await t.api.vmByName("app01");
    const vm = await t.api.ok(`/vms/${app.id}`);
    expect(sameShape(EXAMPLES.vm, vm, "vm")).toEqual([]);
    const regular = (await t.api.ok(`/vms/${app.id}/snapshots`)).snapshot.find(
      (s: Json) => s.snapshot_type === "regular",
    );
    expect(sameShape(EXAMPLES.snapshot, regular, "snapshot")).toEqual([]);
    const att = (await t.api.ok(`/vms/${app.id}/diskattachments`)).disk_attachment[0];
    expect(sameShape(EXAMPLES.disk_attachment, att, "disk_attachment")).toEqual([]);
    const disk = await t.api.ok(`/disks/${att.id}`);
    expect(sameShape({ ...EXAMPLES.disk, backup: "none" }, disk, "disk")).toEqual([]);
    const sd = disk.storage_domains.storage_domain[0].id;
    const snaps = (await t.api.ok(`/storagedomains/${sd}/disksnapshots`)).disk_snapshot;
    const child = snaps.find((s: Json) => s.parent && s.disk.id === disk.id);
    expect(sameShape(EXAMPLES.disk_snapshot, child, "disk_snapshot")).toEqual([]);
    expect(
      sameShape(EXAMPLES.storage_domain, await t.api.ok(`/storagedomains/${sd}`), "storage_domain"),
    ).toEqual([]);
    const tr = await startTransfer(t.api, {
      direction: "download",
      snapshot: { id: child.id },
      format: "raw",
      shallow: "true",
      inactivity_timeout: "120",
      timeout_policy: "cancel",
    });
    expect(sameShape(EXAMPLES.image_transfer, tr, "image_transfer")).toEqual([]);
    expect([tr.direction, tr.format, tr.shallow, tr.timeout_policy, tr.inactivity_timeout]).toEqual([
      "download",
      "raw",
      "true",
      "cancel",
      "120",
    ]);
    await finalize(t.api, tr.id);
  });
});
