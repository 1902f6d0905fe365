import type { DiskRec, StorageDomainRec, TransferRec, VmRec } from "../model";
import { EMPTY_GUID } from "../util/ids";
import type { Engine } from "./engine";
import { badRequest, EngineFault, inBool, inInt, notFound, obj } from "./faults";
import {
  API,
  attachmentJson,
  backupJson,
  checkpointJson,
  clusterJson,
  collection,
  dataCenterJson,
  diskJson,
  diskSnapshotJson,
  eventJson,
  hostJson,
  jobJson,
  nicJson,
  ref,
  snapshotJson,
  storageDomainJson,
  transferJson,
  vmJson,
} from "./json";
import { applySearch, type Fields } from "./search";

/** What a route handler sees of the request. */
export interface RouteCtx {
  params: Record<string, string>;
  query: Record<string, string>;
  body: Record<string, unknown>;
  allContent: boolean;
  correlationId?: string;
}

export interface RouteResult {
  status: number;
  body?: unknown;
  location?: string;
}

export interface Route {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path below /ovirt-engine/api, `:name` segments are parameters. */
  path: string;
  /** Operation name used by fault injection. */
  op: string;
  handler(e: Engine, ctx: RouteCtx): RouteResult | Promise<RouteResult>;
}

const ok = (body: unknown): RouteResult => ({ status: 200, body });
const created = (body: unknown, location: string): RouteResult => ({ status: 201, body, location });
const complete = (): RouteResult => ok({ status: "complete" });

function listOpts(ctx: RouteCtx): { caseSensitive: boolean; max?: number } {
  return { caseSensitive: inBool(ctx.query.case_sensitive, true), max: inInt(ctx.query.max, "max") };
}

const vmFields = (e: Engine): Fields<VmRec> => ({
  name: (v) => v.name,
  id: (v) => v.id,
  status: (v) => v.status,
  description: (v) => v.description,
  cluster: (v) => e.clusterOf(v).name,
  type: (v) => v.type,
  os: (v) => v.osType,
});

const diskFields = (e: Engine): Fields<DiskRec> => ({
  name: (d) => d.alias,
  alias: (d) => d.alias,
  id: (d) => d.id,
  status: (d) => d.status,
  format: (d) => e.activeVolume(d).format,
  provisioned_size: (d) => d.provisionedSize,
  storage: (d) => e.storageDomain(d.storageDomainId).name,
  description: (d) => d.description,
});

const sdFields: Fields<StorageDomainRec> = {
  name: (s) => s.name,
  id: (s) => s.id,
  type: () => "data",
  status: () => "active",
};

/** `follow=` for VMs: inline linked collections. */
function followVm(e: Engine, vm: VmRec, j: Record<string, unknown>, follow: string | undefined): void {
  if (!follow) return;
  for (const path of follow
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    if (path === "disk_attachments" || path === "disk_attachments.disk") {
      j.disk_attachments = collection(
        "disk_attachment",
        vm.attachments.map((a) => {
          const aj = attachmentJson(vm, a);
          if (path === "disk_attachments.disk") aj.disk = diskJson(e, e.disk(a.diskId));
          return aj;
        }),
      );
    } else if (path === "snapshots") {
      j.snapshots = collection(
        "snapshot",
        e.snapshotsOf(vm.id).map((s) => snapshotJson(s)),
      );
    } else if (path === "nics") {
      j.nics = collection(
        "nic",
        vm.nics.map((n) => nicJson(vm, n)),
      );
    } else if (path === "cluster") {
      j.cluster = clusterJson(e.clusterOf(vm));
    } else throw badRequest(`Cannot follow link '${path}' of Vm`);
  }
}

function vmView(e: Engine, vm: VmRec, ctx: RouteCtx): Record<string, unknown> {
  const j = vmJson(e, vm, { allContent: ctx.allContent });
  followVm(e, vm, j, ctx.query.follow);
  return j;
}

function attachmentView(e: Engine, vm: VmRec, diskId: string, ctx: RouteCtx): Record<string, unknown> {
  const a = vm.attachments.find((x) => x.diskId === diskId);
  if (!a) throw notFound(diskId);
  const j = attachmentJson(vm, a);
  const follow = ctx.query.follow;
  if (follow) {
    for (const p of follow
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean)) {
      if (p === "disk") j.disk = diskJson(e, e.disk(diskId));
      else if (p === "vm") j.vm = vmJson(e, vm);
      else throw badRequest(`Cannot follow link '${p}' of DiskAttachment`);
    }
  }
  return j;
}

function diskSnapshots(e: Engine, disks: DiskRec[], ctx: RouteCtx, base: (d: DiskRec) => string): unknown[] {
  const includeActive = inBool(ctx.query.include_active, false);
  const out: unknown[] = [];
  for (const d of disks) {
    const vols = includeActive ? d.volumes : d.volumes.slice(0, -1);
    for (const v of vols) out.push(diskSnapshotJson(e, d, v, base(d)));
  }
  const max = inInt(ctx.query.max, "max");
  return max !== undefined ? out.slice(0, max) : out;
}

/** `product_info.version` of an engine version `4.5.5`. */
function productVersion(v: string): Record<string, string> {
  const [major = "4", minor = "0", build = "0"] = v.split(".");
  return { build, full_version: `${v}-1.el8`, major, minor, revision: "0" };
}

function transferById(e: Engine, id: string): TransferRec {
  return e.transfers.get(id);
}

export const routes: Route[] = [
  {
    method: "GET",
    path: "",
    op: "api.get",
    handler: (e) => {
      const vms = e.data.vms;
      return ok({
        product_info: {
          instance_id: e.data.dataCenter.id,
          name: "oVirt Engine",
          vendor: "ovirt.org",
          version: productVersion(e.version),
        },
        special_objects: { blank_template: ref("templates", EMPTY_GUID), root_tag: ref("tags", EMPTY_GUID) },
        summary: {
          hosts: { active: "1", total: "1" },
          storage_domains: {
            active: String(e.data.storageDomains.length),
            total: String(e.data.storageDomains.length),
          },
          users: { active: "1", total: "1" },
          vms: { active: String(vms.filter((v) => v.status === "up").length), total: String(vms.length) },
        },
        time: e.now(),
        authenticated_user: ref("users", "00000000-0000-4000-8000-0000000000a1"),
        effective_user: ref("users", "00000000-0000-4000-8000-0000000000a1"),
        link: [
          "clusters",
          "datacenters",
          "disks",
          "events",
          "hosts",
          "imagetransfers",
          "jobs",
          "storagedomains",
          "vms",
        ].map((rel) => ({ href: `${API}/${rel}`, rel })),
      });
    },
  },
  // ---- data centers, clusters, hosts ----
  {
    method: "GET",
    path: "datacenters",
    op: "datacenters.list",
    handler: (e, ctx) =>
      ok(
        collection(
          "data_center",
          applySearch(
            [e.data.dataCenter],
            ctx.query.search,
            {
              name: (d) => d.name,
              id: (d) => d.id,
              status: () => "up",
              "storage.name": () => e.data.storageDomains.map((s) => s.name),
            },
            listOpts(ctx),
          ).map(() => dataCenterJson(e)),
        ),
      ),
  },
  {
    method: "GET",
    path: "datacenters/:id",
    op: "datacenters.get",
    handler: (e, ctx) => {
      if (ctx.params.id !== e.data.dataCenter.id) throw notFound(ctx.params.id as string);
      return ok(dataCenterJson(e));
    },
  },
  {
    method: "GET",
    path: "datacenters/:id/storagedomains",
    op: "datacenters.storagedomains.list",
    handler: (e, ctx) => {
      if (ctx.params.id !== e.data.dataCenter.id) throw notFound(ctx.params.id as string);
      return ok(
        collection(
          "storage_domain",
          e.data.storageDomains.map((s) => storageDomainJson(e, s, { inDataCenter: true })),
        ),
      );
    },
  },
  {
    method: "GET",
    path: "clusters",
    op: "clusters.list",
    handler: (e, ctx) =>
      ok(
        collection(
          "cluster",
          applySearch(
            e.data.clusters,
            ctx.query.search,
            { name: (c) => c.name, id: (c) => c.id },
            listOpts(ctx),
          ).map(clusterJson),
        ),
      ),
  },
  {
    method: "GET",
    path: "clusters/:id",
    op: "clusters.get",
    handler: (e, ctx) => ok(clusterJson(e.cluster(ctx.params.id as string))),
  },
  {
    method: "GET",
    path: "hosts",
    op: "hosts.list",
    handler: (e, ctx) =>
      ok(
        collection(
          "host",
          applySearch(
            [e.data.host],
            ctx.query.search,
            {
              name: (h) => h.name,
              id: (h) => h.id,
              status: () => "up",
              hw_id: (h) => h.id,
              datacenter: () => e.data.dataCenter.name,
            },
            listOpts(ctx),
          ).map(() => hostJson(e)),
        ),
      ),
  },
  {
    method: "GET",
    path: "hosts/:id",
    op: "hosts.get",
    handler: (e, ctx) => {
      if (ctx.params.id !== e.data.host.id) throw notFound(ctx.params.id as string);
      return ok(hostJson(e));
    },
  },
  // ---- storage domains ----
  {
    method: "GET",
    path: "storagedomains",
    op: "storagedomains.list",
    handler: (e, ctx) =>
      ok(
        collection(
          "storage_domain",
          applySearch(e.data.storageDomains, ctx.query.search, sdFields, listOpts(ctx)).map((s) =>
            storageDomainJson(e, s),
          ),
        ),
      ),
  },
  {
    method: "GET",
    path: "storagedomains/:id",
    op: "storagedomains.get",
    handler: (e, ctx) => ok(storageDomainJson(e, e.storageDomain(ctx.params.id as string))),
  },
  {
    method: "GET",
    path: "storagedomains/:id/disks",
    op: "storagedomains.disks.list",
    handler: (e, ctx) => {
      const sd = e.storageDomain(ctx.params.id as string);
      const disks = e.data.disks.filter((d) => d.storageDomainId === sd.id);
      return ok(
        collection(
          "disk",
          applySearch(disks, ctx.query.search, diskFields(e), listOpts(ctx)).map((d) => diskJson(e, d)),
        ),
      );
    },
  },
  {
    method: "GET",
    path: "storagedomains/:id/disksnapshots",
    op: "disksnapshots.list",
    handler: (e, ctx) => {
      const sd = e.storageDomain(ctx.params.id as string);
      const base = `${API}/storagedomains/${sd.id}/disksnapshots`;
      return ok(
        collection(
          "disk_snapshot",
          diskSnapshots(
            e,
            e.data.disks.filter((d) => d.storageDomainId === sd.id),
            ctx,
            () => base,
          ),
        ),
      );
    },
  },
  {
    method: "GET",
    path: "storagedomains/:id/disksnapshots/:vid",
    op: "disksnapshots.get",
    handler: (e, ctx) => {
      const sd = e.storageDomain(ctx.params.id as string);
      const found = e.findVolume(ctx.params.vid as string);
      if (!found || found.disk.storageDomainId !== sd.id) throw notFound(ctx.params.vid as string);
      return ok(diskSnapshotJson(e, found.disk, found.vol, `${API}/storagedomains/${sd.id}/disksnapshots`));
    },
  },
  // ---- VMs ----
  {
    method: "GET",
    path: "vms",
    op: "vms.list",
    handler: (e, ctx) =>
      ok(
        collection(
          "vm",
          applySearch(e.data.vms, ctx.query.search, vmFields(e), listOpts(ctx)).map((v) => vmView(e, v, ctx)),
        ),
      ),
  },
  {
    method: "POST",
    path: "vms",
    op: "vms.add",
    handler: (e, ctx) => {
      const vm = e.addVm(ctx.body, ctx.correlationId);
      // An import still running (engines before 4.5.1) is accepted, not done.
      if (vm.status === "image_locked")
        return { status: 202, body: vmJson(e, vm), location: `${API}/vms/${vm.id}` };
      return created(vmJson(e, vm), `${API}/vms/${vm.id}`);
    },
  },
  {
    method: "GET",
    path: "vms/:id",
    op: "vms.get",
    handler: (e, ctx) => ok(vmView(e, e.vm(ctx.params.id as string), ctx)),
  },
  {
    method: "DELETE",
    path: "vms/:id",
    op: "vms.remove",
    handler: (e, ctx) => {
      e.removeVm(ctx.params.id as string, inBool(ctx.query.detach_only, false));
      return ok(undefined);
    },
  },
  ...(["start", "stop", "shutdown"] as const).map(
    (action): Route => ({
      method: "POST",
      path: `vms/:id/${action}`,
      op: `vms.${action}`,
      handler: (e, ctx) => {
        e.setVmPower(ctx.params.id as string, action === "start");
        return complete();
      },
    }),
  ),
  {
    method: "GET",
    path: "vms/:id/nics",
    op: "nics.list",
    handler: (e, ctx) => {
      const vm = e.vm(ctx.params.id as string);
      return ok(
        collection(
          "nic",
          vm.nics.map((n) => nicJson(vm, n)),
        ),
      );
    },
  },
  {
    method: "GET",
    path: "vms/:id/diskattachments",
    op: "diskattachments.list",
    handler: (e, ctx) => {
      const vm = e.vm(ctx.params.id as string);
      return ok(
        collection(
          "disk_attachment",
          vm.attachments.map((a) => attachmentView(e, vm, a.diskId, ctx)),
        ),
      );
    },
  },
  {
    method: "POST",
    path: "vms/:id/diskattachments",
    op: "diskattachments.add",
    handler: (e, ctx) => {
      const vm = e.vm(ctx.params.id as string);
      const a = e.attachDisk(vm.id, ctx.body);
      return created(attachmentJson(vm, a), `${API}/vms/${vm.id}/diskattachments/${a.diskId}`);
    },
  },
  {
    method: "GET",
    path: "vms/:id/diskattachments/:did",
    op: "diskattachments.get",
    handler: (e, ctx) => ok(attachmentView(e, e.vm(ctx.params.id as string), ctx.params.did as string, ctx)),
  },
  {
    method: "DELETE",
    path: "vms/:id/diskattachments/:did",
    op: "diskattachments.remove",
    handler: (e, ctx) => {
      e.detachDisk(ctx.params.id as string, ctx.params.did as string, inBool(ctx.query.detach_only, true));
      return ok(undefined);
    },
  },
  // ---- snapshots ----
  {
    method: "GET",
    path: "vms/:id/snapshots",
    op: "snapshots.list",
    handler: (e, ctx) => {
      const vm = e.vm(ctx.params.id as string);
      const snaps = e.snapshotsOf(vm.id).sort((a, b) => a.date - b.date);
      return ok(
        collection(
          "snapshot",
          snaps.map((s) => snapshotJson(s, { allContent: ctx.allContent })),
        ),
      );
    },
  },
  {
    method: "POST",
    path: "vms/:id/snapshots",
    op: "snapshots.add",
    handler: (e, ctx) => {
      const s = e.createSnapshot(ctx.params.id as string, ctx.body, ctx.correlationId);
      return created(snapshotJson(s), `${API}/vms/${s.vmId}/snapshots/${s.id}`);
    },
  },
  {
    method: "GET",
    path: "vms/:id/snapshots/:sid",
    op: "snapshots.get",
    handler: (e, ctx) =>
      ok(
        snapshotJson(e.snapshot(ctx.params.id as string, ctx.params.sid as string), {
          allContent: ctx.allContent,
        }),
      ),
  },
  {
    method: "DELETE",
    path: "vms/:id/snapshots/:sid",
    op: "snapshots.remove",
    handler: (e, ctx) => {
      e.removeSnapshot(ctx.params.id as string, ctx.params.sid as string, ctx.correlationId);
      return ok(undefined);
    },
  },
  {
    method: "GET",
    path: "vms/:id/snapshots/:sid/disks",
    op: "snapshots.disks.list",
    handler: (e, ctx) => {
      const vm = e.vm(ctx.params.id as string);
      const snap = e.snapshot(vm.id, ctx.params.sid as string);
      const base = `${API}/vms/${vm.id}/snapshots/${snap.id}/disks`;
      const out: unknown[] = [];
      for (const d of e.disksOf(vm)) {
        const vol = d.volumes.find((v) => v.snapshotId === snap.id);
        if (vol) out.push(diskJson(e, d, { vol, href: `${base}/${d.id}` }));
      }
      return ok(collection("disk", out));
    },
  },
  // ---- backups and checkpoints (ref §3.8, §3.9, §4.7) ----
  {
    method: "GET",
    path: "vms/:id/backups",
    op: "backups.list",
    handler: (e, ctx) => {
      const vm = e.vm(ctx.params.id as string);
      return ok(collection("backup", e.backups.list(vm.id).map(backupJson)));
    },
  },
  {
    method: "POST",
    path: "vms/:id/backups",
    op: "backups.add",
    handler: (e, ctx) => {
      const b = e.backups.start(ctx.params.id as string, ctx.body, ctx.query, ctx.correlationId);
      return created(backupJson(b), `${API}/vms/${b.vmId}/backups/${b.id}`);
    },
  },
  {
    method: "GET",
    path: "vms/:id/backups/:bid",
    op: "backups.get",
    handler: (e, ctx) => ok(backupJson(e.backups.get(ctx.params.id as string, ctx.params.bid as string))),
  },
  {
    method: "GET",
    path: "vms/:id/backups/:bid/disks",
    op: "backups.disks.list",
    handler: (e, ctx) => {
      const b = e.backups.get(ctx.params.id as string, ctx.params.bid as string);
      const base = `${API}/vms/${b.vmId}/backups/${b.id}/disks`;
      return ok(
        collection(
          "disk",
          b.disks.map((bd) => {
            const d = e.disk(bd.diskId);
            return {
              ...diskJson(e, d, { vol: e.activeVolume(d), href: `${base}/${d.id}` }),
              backup_mode: bd.mode,
            };
          }),
        ),
      );
    },
  },
  {
    method: "POST",
    path: "vms/:id/backups/:bid/finalize",
    op: "backups.finalize",
    handler: (e, ctx) => {
      e.backups.finalize(ctx.params.id as string, ctx.params.bid as string);
      return complete();
    },
  },
  {
    method: "GET",
    path: "vms/:id/checkpoints",
    op: "checkpoints.list",
    handler: (e, ctx) => {
      const vm = e.vm(ctx.params.id as string);
      return ok(collection("checkpoint", e.backups.checkpoints(vm.id).map(checkpointJson)));
    },
  },
  {
    method: "GET",
    path: "vms/:id/checkpoints/:cid",
    op: "checkpoints.get",
    handler: (e, ctx) =>
      ok(checkpointJson(e.backups.checkpoint(ctx.params.id as string, ctx.params.cid as string))),
  },
  {
    method: "GET",
    path: "vms/:id/checkpoints/:cid/disks",
    op: "checkpoints.disks.list",
    handler: (e, ctx) => {
      const c = e.backups.checkpoint(ctx.params.id as string, ctx.params.cid as string);
      const disks = c.diskIds
        .map((id) => e.data.disks.find((d) => d.id === id))
        .filter((d) => d !== undefined);
      return ok(
        collection(
          "disk",
          disks.map((d) => diskJson(e, d)),
        ),
      );
    },
  },
  {
    method: "DELETE",
    path: "vms/:id/checkpoints/:cid",
    op: "checkpoints.remove",
    handler: (e, ctx) => {
      e.backups.removeCheckpoint(ctx.params.id as string, ctx.params.cid as string);
      return ok(undefined);
    },
  },
  // ---- disks ----
  {
    method: "GET",
    path: "disks",
    op: "disks.list",
    handler: (e, ctx) =>
      ok(
        collection(
          "disk",
          applySearch(e.data.disks, ctx.query.search, diskFields(e), listOpts(ctx)).map((d) =>
            diskJson(e, d),
          ),
        ),
      ),
  },
  {
    method: "POST",
    path: "disks",
    op: "disks.add",
    handler: (e, ctx) => {
      const d = e.addDisk(ctx.body, ctx.correlationId);
      return created(diskJson(e, d), `${API}/disks/${d.id}`);
    },
  },
  {
    method: "GET",
    path: "disks/:id",
    op: "disks.get",
    handler: (e, ctx) => ok(diskJson(e, e.disk(ctx.params.id as string))),
  },
  {
    method: "DELETE",
    path: "disks/:id",
    op: "disks.remove",
    handler: (e, ctx) => {
      e.removeDisk(ctx.params.id as string);
      return ok(undefined);
    },
  },
  {
    method: "GET",
    path: "disks/:id/disksnapshots",
    op: "disksnapshots.list",
    handler: (e, ctx) => {
      // The per-disk path came with 4.4.3; an older engine has no such resource.
      if (!e.atLeast("4.4.3"))
        throw new EngineFault(404, "Not Found", `No resource at ${API}/disks/${ctx.params.id}/disksnapshots`);
      const d = e.disk(ctx.params.id as string);
      return ok(
        collection(
          "disk_snapshot",
          diskSnapshots(e, [d], ctx, (x) => `${API}/disks/${x.id}/disksnapshots`),
        ),
      );
    },
  },
  {
    method: "GET",
    path: "disks/:id/disksnapshots/:vid",
    op: "disksnapshots.get",
    handler: (e, ctx) => {
      const d = e.disk(ctx.params.id as string);
      const vol = d.volumes.find((v) => v.id === ctx.params.vid);
      if (!vol) throw notFound(ctx.params.vid as string);
      return ok(diskSnapshotJson(e, d, vol, `${API}/disks/${d.id}/disksnapshots`));
    },
  },
  // ---- image transfers ----
  {
    method: "GET",
    path: "imagetransfers",
    op: "imagetransfers.list",
    handler: (e) =>
      ok(
        collection(
          "image_transfer",
          e.data.transfers.map((t) => transferJson(e, t)),
        ),
      ),
  },
  {
    method: "POST",
    path: "imagetransfers",
    op: "imagetransfers.add",
    handler: (e, ctx) => {
      const t = e.transfers.create(ctx.body, ctx.correlationId);
      return created(transferJson(e, t), `${API}/imagetransfers/${t.id}`);
    },
  },
  {
    method: "GET",
    path: "imagetransfers/:id",
    op: "imagetransfers.get",
    handler: (e, ctx) => ok(transferJson(e, transferById(e, ctx.params.id as string))),
  },
  ...(["finalize", "cancel", "pause", "resume", "extend"] as const).map(
    (action): Route => ({
      method: "POST",
      path: `imagetransfers/:id/${action}`,
      op: `imagetransfers.${action}`,
      handler: (e, ctx) => {
        e.transfers[action](ctx.params.id as string);
        return complete();
      },
    }),
  ),
  // ---- jobs and events ----
  {
    method: "GET",
    path: "jobs",
    op: "jobs.list",
    handler: (e, ctx) =>
      ok(
        collection(
          "job",
          applySearch(
            [...e.data.jobs].reverse(),
            ctx.query.search,
            {
              correlation_id: (j) => j.correlationId,
              status: (j) => j.status,
              description: (j) => j.description,
              id: (j) => j.id,
            },
            listOpts(ctx),
          ).map(jobJson),
        ),
      ),
  },
  {
    method: "GET",
    path: "jobs/:id",
    op: "jobs.get",
    handler: (e, ctx) => {
      const job = e.data.jobs.find((j) => j.id === ctx.params.id);
      if (!job) throw notFound(ctx.params.id as string);
      return ok(jobJson(job));
    },
  },
  {
    method: "GET",
    path: "events",
    op: "events.list",
    handler: (e, ctx) => {
      const from = inInt(ctx.query.from, "from");
      const events = [...e.data.events].reverse().filter((ev) => from === undefined || ev.id > from);
      return ok(
        collection(
          "event",
          applySearch(
            events,
            ctx.query.search,
            {
              correlation_id: (ev) => ev.correlationId,
              severity: (ev) => ev.severity,
              type: (ev) => ev.code,
              description: (ev) => ev.description,
              vm: (ev) => ev.vmId,
            },
            { caseSensitive: false, max: inInt(ctx.query.max, "max") },
          ).map(eventJson),
        ),
      );
    },
  },
  {
    method: "GET",
    path: "events/:id",
    op: "events.get",
    handler: (e, ctx) => {
      const ev = e.data.events.find((x) => String(x.id) === ctx.params.id);
      if (!ev) throw notFound(ctx.params.id as string);
      return ok(eventJson(ev));
    },
  },
];

/** Matches a path below the API root against the route table. */
export function matchRoute(
  method: string,
  path: string,
): { route: Route; params: Record<string, string> } | { allowed: string[] } | null {
  const segs = path.split("/").filter(Boolean);
  const allowed: string[] = [];
  for (const r of routes) {
    const rs = r.path.split("/").filter(Boolean);
    if (rs.length !== segs.length) continue;
    const params: Record<string, string> = {};
    let match = true;
    for (let i = 0; i < rs.length; i++) {
      const p = rs[i] as string;
      const s = decodeURIComponent(segs[i] as string);
      if (p.startsWith(":")) params[p.slice(1)] = s;
      else if (p !== s) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    if (r.method === method) return { route: r, params };
    allowed.push(r.method);
  }
  return allowed.length ? { allowed } : null;
}

export { obj };
