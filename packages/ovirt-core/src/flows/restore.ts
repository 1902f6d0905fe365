import { randomUUID } from "node:crypto";
import {
  backingNameMatches,
  ChainError,
  detectImageFormat,
  readFirstCluster,
  readQcow2Header,
  rewriteBackingFile,
} from "@lifeboat/disk-image";
import type { Repository } from "@lifeboat/repository";
import {
  type Cluster,
  type EngineClient,
  EngineError,
  EngineStateError,
  type StorageDomain,
  searchValue,
  type Vm,
} from "../engine";
import type { ImageSegment } from "../imageio";
import { type OvfDisk, parseOvf, rewriteOvf } from "../ovf";
import { cleanupRecords } from "./cleanup";
import { errorText, FlowContext, isNotFound } from "./context";
import { diskVirtualSize, type PointDisk, type PointLayer, type PointView, pointView } from "./manifest";
import { FlowTransfer } from "./transfer";
import {
  type EngineObjectRecord,
  FlowError,
  type FlowHooks,
  type RestoreVmOptions,
  type RestoreVmResult,
  type StorageDomainRef,
} from "./types";

/** A flow context whose engine-object journal is also kept locally, for its own cleanup. */
export function journaledContext(
  hooks: FlowHooks,
  deadlines: RestoreVmOptions["deadlines"],
): { flow: FlowContext; journal: EngineObjectRecord[] } {
  const journal: EngineObjectRecord[] = [];
  const flow = new FlowContext(
    {
      ...hooks,
      onEngineObject: async (r) => {
        journal.push(r);
        await hooks.onEngineObject?.(r);
      },
    },
    deadlines,
  );
  return { flow, journal };
}

/**
 * Re-reads and re-hashes every chunk of the restore point before anything is created on the engine: a damaged
 * restore point is refused with the repository's words.
 */
export async function verifyPoint(flow: FlowContext, repository: Repository, view: PointView): Promise<void> {
  const pointId = view.id;
  flow.step = "verify restore point";
  // Holes are not re-read: the total is an upper bound.
  flow.progress.begin(
    "verify",
    view.disks.reduce((s, d) => s + d.layers.reduce((t, l) => t + l.size, 0), 0),
  );
  let last = 0;
  const report = await repository.verify({
    pointId,
    signal: flow.signal,
    onProgress: (p) => {
      flow.progress.add(p.bytes - last);
      last = p.bytes;
    },
  });
  if (report.ok) {
    flow.event("info", flow.step, `restore point ${pointId}: ${report.checked.chunks} chunks verified`);
    return;
  }
  const first =
    report.badChunks[0]?.detail !== undefined
      ? `chunk ${report.badChunks[0].chunkId} is ${report.badChunks[0].problem} (${report.badChunks[0].detail})`
      : (report.badLayers[0]?.detail ?? report.badRestorePoints[0]?.detail ?? "unknown damage");
  throw new FlowError({
    step: flow.step,
    message: `restore point ${pointId} is damaged, nothing was restored: ${first}${report.badChunks.length + report.badLayers.length > 1 ? ` (and ${report.badChunks.length + report.badLayers.length - 1} more problems; run lifeboat verify)` : ""}`,
  });
}

/**
 * The storage domain for a restored disk: the one asked for (it must exist), else the one recorded at backup
 * time when it still exists, else the first active data domain.
 */
export async function resolveStorageDomain(
  engine: EngineClient,
  requested: StorageDomainRef | undefined,
  recorded: StorageDomainRef | undefined,
  signal: AbortSignal | undefined,
): Promise<StorageDomain> {
  if (requested?.id) return engine.storageDomains.get(requested.id, { signal });
  if (requested?.name) return engine.storageDomains.byName(requested.name, { signal });
  if (recorded?.id) {
    try {
      return await engine.storageDomains.get(recorded.id, { signal });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
  const all = await engine.storageDomains.list({ signal });
  const usable = all.find(
    (s) =>
      s.type === "data" &&
      ![s.status, s.externalStatus].some((x) => x && !["active", "ok", "unknown"].includes(x)),
  );
  if (!usable)
    throw new EngineStateError("storage domain", "-", "missing", "the engine has no usable data domain");
  return usable;
}

export function isBlockDomain(sd: StorageDomain): boolean {
  return ["iscsi", "fcp"].includes(sd.storageType ?? "");
}

/** A layer's bytes for upload with its first cluster replaced (a rewritten qcow2 backing name). */
export async function* withPatchedStart(
  segments: AsyncIterable<ImageSegment>,
  patch: Buffer | undefined,
): AsyncGenerator<ImageSegment> {
  for await (const s of segments) {
    const length = s.zero ? s.length : s.data.length;
    const end = s.offset + length;
    if (!patch || s.offset >= patch.length) {
      yield s;
      continue;
    }
    const patchEnd = Math.min(end, patch.length);
    yield { offset: s.offset, data: patch.subarray(s.offset, patchEnd) };
    if (end > patchEnd)
      yield s.zero
        ? { offset: patchEnd, length: end - patchEnd, zero: true }
        : { offset: patchEnd, data: s.data.subarray(patchEnd - s.offset) };
  }
}

/**
 * Checks one stored layer before anything is created: its format and, for a qcow2 with a parent, that its
 * backing name is the parent's image id (the host verifies it at finalize, ref §6.3). Returns the first cluster
 * with the backing name rewritten to `newParent` when the restore gives the parent a new id.
 */
async function checkLayer(
  repository: Repository,
  disk: PointDisk,
  index: number,
  newParent: string | null,
): Promise<Buffer | undefined> {
  const layer = disk.layers[index] as PointLayer;
  const parent = disk.layers[index - 1];
  const src = await repository.openLayerSource(layer.layerId);
  try {
    const name = `layer ${layer.imageId} of disk ${disk.alias}`;
    // A raw volume is raw whatever its first bytes are; a cow one must be a qcow2.
    if (layer.format === "raw") {
      if (parent) throw new ChainError(`${name} is raw, so it cannot sit on ${parent.imageId}`);
      return undefined;
    }
    if ((await detectImageFormat(src)) !== "qcow2")
      throw new ChainError(`${name} is recorded as cow but does not hold a qcow2 image`);
    const first = await readFirstCluster(src, name);
    const h = await readQcow2Header(src, name);
    if (!parent) {
      if (h.backingFile !== null)
        throw new ChainError(`${name} is a base but names backing file "${h.backingFile}"`);
      return undefined;
    }
    if (!backingNameMatches(h.backingFile ?? "", parent.imageId))
      throw new ChainError(
        `${name} names backing file "${h.backingFile ?? ""}", not its parent ${parent.imageId}`,
      );
    if (newParent === null || newParent === h.backingFile) return undefined;
    return rewriteBackingFile(first, newParent, name);
  } finally {
    await src.close();
  }
}

async function resolveCluster(
  engine: EngineClient,
  target: RestoreVmOptions["target"],
  view: PointView,
  ovfClusterName: string | null,
  signal: AbortSignal | undefined,
): Promise<Cluster> {
  if (target.cluster?.id) return engine.clusters.get(target.cluster.id, { signal });
  const byName = async (name: string) =>
    (await engine.clusters.list({ search: `name=${searchValue(name)}`, signal })).find(
      (c) => c.name === name,
    );
  if (target.cluster?.name) {
    const c = await byName(target.cluster.name);
    if (!c)
      throw new EngineStateError(
        "cluster",
        target.cluster.name,
        "missing",
        `no cluster named "${target.cluster.name}"`,
      );
    return c;
  }
  for (const name of [view.vm.clusterName, ovfClusterName]) {
    if (!name) continue;
    const c = await byName(name);
    if (c) return c;
  }
  const first = (await engine.clusters.list({ signal }))[0];
  if (!first) throw new EngineStateError("cluster", "-", "missing", "the engine has no cluster");
  return first;
}

async function exists(get: () => Promise<unknown>): Promise<boolean> {
  try {
    await get();
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/** Per disk of the restore point: the disk id and the image id of every layer on the target. */
interface DiskIds {
  disk: PointDisk;
  diskId: string;
  imageIds: string[];
  /** Rewritten first clusters, per layer index. */
  patches: Array<Buffer | undefined>;
  storageDomain: StorageDomain;
  ovf?: OvfDisk;
}

/**
 * Restores a restore point as a new VM (design §3, ref §4.3–4.4, §6.3): disks created with their base image
 * id and format, the VM added from the OVF, missing attachments made explicitly, one snapshot per further
 * layer level with `disk_attachments` naming each disk's layer image id, every layer uploaded as it was
 * stored (file backend) and finalized, disks waited for `ok`. When the original VM or any of its disks still
 * exists, every disk and image gets a new id (qcow2 backing names rewritten on the way) and the OVF is
 * rewritten; otherwise (disaster recovery) the original ids are kept. On any failure or abort what was created
 * is removed again, and the error carries the engine's words.
 */
export async function restoreVm(opts: RestoreVmOptions): Promise<RestoreVmResult> {
  const { engine, repository, target } = opts;
  const { flow, journal } = journaledContext(opts, opts.deadlines);
  try {
    flow.step = "read restore point";
    const view = pointView(opts.restorePoint);
    const info = parseOvf(view.ovf);
    flow.step = "check target";
    if (await engine.vms.findByName(target.name, { signal: flow.signal }))
      throw new FlowError({ step: flow.step, message: `a VM named "${target.name}" already exists` });
    const present: string[] = [];
    if (await exists(() => engine.vms.get(view.vm.id, { signal: flow.signal })))
      present.push(`VM ${view.vm.name}`);
    for (const d of view.disks)
      if (await exists(() => engine.disks.get(d.diskId, { signal: flow.signal })))
        present.push(`disk ${d.alias}`);
    const identity =
      target.identity === "original" || target.identity === "new"
        ? target.identity
        : present.length
          ? "new"
          : "original";
    if (identity === "original" && present.length > 0)
      throw new FlowError({
        step: flow.step,
        message: `cannot restore with the original ids: ${present.join(", ")} still exist${present.length === 1 ? "s" : ""}`,
      });
    flow.event(
      "info",
      flow.step,
      identity === "new"
        ? `the original still exists (${present.join(", ")}): new ids for the VM, its disks and volumes`
        : "the original is gone: the original ids are kept",
    );
    const cluster = await resolveCluster(engine, target, view, info.vm.clusterName, flow.signal);
    // The engine checks are quick; then every chunk is re-read, still before anything is created.
    if (opts.verify !== false) await verifyPoint(flow, repository, view);
    flow.step = "check layers";

    const ids: DiskIds[] = [];
    for (const disk of view.disks) {
      const imageIds = disk.layers.map((l) => (identity === "new" ? randomUUID() : l.imageId));
      const patches: Array<Buffer | undefined> = [];
      for (let i = 0; i < disk.layers.length; i++)
        patches.push(
          await checkLayer(
            repository,
            disk,
            i,
            i > 0 && identity === "new" ? (imageIds[i - 1] as string) : null,
          ),
        );
      ids.push({
        disk,
        diskId: identity === "new" ? randomUUID() : disk.diskId,
        imageIds,
        patches,
        storageDomain: await resolveStorageDomain(
          engine,
          target.storageDomain,
          disk.storageDomain,
          flow.signal,
        ),
        ovf: info.disks.find((o) => o.diskId === disk.diskId.toLowerCase()),
      });
    }

    flow.step = "create disks";
    for (const d of ids) {
      const base = d.disk.layers[0] as PointLayer;
      // Guest data (backup API) goes into a disk of the original format; a volume's bytes into one of its own.
      const format = base.content === "guest" ? (d.disk.format ?? "cow") : base.format;
      const block = isBlockDomain(d.storageDomain);
      const alias =
        identity === "new" && d.disk.alias.startsWith(`${view.vm.name}_`)
          ? `${target.name}${d.disk.alias.slice(view.vm.name.length)}`
          : d.disk.alias;
      const record = () =>
        flow.record({
          kind: "disk",
          id: d.diskId,
          diskId: d.diskId,
          state: "created",
          purpose: `restored disk ${alias}`,
        });
      // A new id is ours alone: journaled before it is asked for, so a lost answer cannot hide the disk from
      // cleanup. An original id is journaled only once the engine made the disk: never remove someone else's.
      if (identity === "new") await record();
      await engine.disks.add(
        {
          id: d.diskId,
          imageId: d.imageIds[0],
          name: alias,
          description: d.disk.description || undefined,
          format,
          // Raw sparse volumes do not exist on block storage; cow volumes are always sparse.
          sparse: format === "cow" ? true : block ? false : (d.disk.sparse ?? true),
          provisionedSize: diskVirtualSize(d.disk),
          // A qcow2 volume's size is known; guest data grows into the qcow2 as the engine writes it.
          initialSize: format === "cow" && base.content !== "guest" ? base.size : undefined,
          storageDomain: { id: d.storageDomain.id },
          wipeAfterDelete: d.ovf?.wipeAfterDelete ?? d.disk.wipeAfterDelete,
          correlationId: opts.jobRef,
        },
        { signal: flow.signal },
      );
      if (identity === "original") await record();
    }
    for (const d of ids) await engine.disks.waitOk(d.diskId, flow.wait(flow.deadlines.diskMs));

    flow.step = "add VM";
    const ovf =
      identity === "new"
        ? rewriteOvf(view.ovf, {
            name: target.name,
            clearMacs: true,
            // The engine's automatic attach uses the OVF's VM id even with regenerate_ids: a fresh id there
            // makes it miss instead of attaching the new disks to the original VM (OVF ref §10.5).
            vmId: randomUUID(),
            diskIds: new Map(ids.filter((d) => d.ovf).map((d) => [d.disk.diskId.toLowerCase(), d.diskId])),
            imageIds: new Map(
              ids.flatMap((d) =>
                d.disk.layers
                  .map((l, i) => [l.imageId.toLowerCase(), d.imageIds[i] as string] as [string, string])
                  .filter(([old]) => d.ovf?.volumes.some((v) => v.imageId === old)),
              ),
            ),
            // Disks the restore point does not hold (LUNs, shareable disks) stay with the original VM.
            dropDisks: info.disks
              .filter((o) => !ids.some((d) => d.disk.diskId.toLowerCase() === o.diskId))
              .map((o) => o.diskId),
          })
        : view.ovf;
    let vm: Vm;
    const addVm = (withOvf: string) =>
      engine.vms.addFromOvf(
        {
          ovf: withOvf,
          name: target.name,
          cluster: { id: cluster.id },
          regenerateIds: identity === "new",
          correlationId: opts.jobRef,
        },
        flow.wait(flow.deadlines.diskMs),
      );
    try {
      try {
        vm = await addVm(ovf);
      } catch (e) {
        // The original identity keeps the NICs' MAC addresses; where another VM of the target's MAC pool holds
        // one (another site, a VM made since), the engine refuses the import: let its pool assign new ones.
        if (!(identity === "original" && isMacInUse(e))) throw e;
        flow.event(
          "warn",
          flow.step,
          `${(e as EngineError).detail ?? "a MAC address is in use"}: the NICs get new MAC addresses from the engine's pool`,
        );
        vm = await addVm(rewriteOvf(view.ovf, { clearMacs: true }));
      }
    } catch (e) {
      // The POST went through and the wait failed (a late import failure, a timeout, an abort): names are unique,
      // so the VM of this name is the one just made. A refused POST made nothing.
      if (!(e instanceof EngineError && e.method === "POST")) {
        const made = await engine.vms.findByName(target.name).catch(() => undefined);
        if (made) await recordVm(flow, made.id, target.name);
      }
      throw e;
    }
    await recordVm(flow, vm.id, target.name);
    flow.event("info", flow.step, `VM ${target.name} added (${vm.id})`, { vmId: vm.id });

    flow.step = "attach disks";
    const attached = new Set(
      (await engine.diskAttachments.list(vm.id, { followDisk: false, signal: flow.signal })).map(
        (a) => a.diskId,
      ),
    );
    for (const d of ids) {
      if (attached.has(d.diskId)) continue;
      await engine.diskAttachments.add(
        vm.id,
        {
          diskId: d.diskId,
          interface: d.ovf?.interface ?? d.disk.interface ?? "virtio_scsi",
          bootable: d.ovf?.boot ?? d.disk.bootable ?? false,
          active: d.disk.active ?? true,
          readOnly: d.ovf?.readOnly ?? d.disk.readOnly,
          passDiscard: d.ovf?.passDiscard ?? d.disk.passDiscard,
        },
        { signal: flow.signal },
      );
      flow.event("info", flow.step, `disk ${d.disk.alias} attached explicitly`, { diskId: d.diskId });
    }

    // Aligned at the top, as oVirt snapshots all disks at once: a disk with fewer layers joins later.
    flow.step = "create snapshots";
    const depth = Math.max(...ids.map((d) => d.disk.layers.length), 1);
    for (let level = 1; level < depth; level++) {
      const parts = ids
        .map((d) => ({ d, index: level - (depth - d.disk.layers.length) }))
        .filter((p) => p.index >= 1);
      const owner = parts.find((p) => p.d.disk.layers.length === depth)?.d.disk.layers[level - 1];
      const snap = await engine.snapshots.add(
        vm.id,
        {
          description: owner?.snapshotDescription || `Lifeboat restore of ${view.id} (layer ${level})`,
          persistMemorystate: false,
          diskAttachments: parts.map((p) => ({
            diskId: p.d.diskId,
            imageId: p.d.imageIds[p.index] as string,
            initialSize: (p.d.disk.layers[p.index] as PointLayer).size,
          })),
          correlationId: opts.jobRef,
        },
        { signal: flow.signal },
      );
      await flow.record({
        kind: "snapshot",
        id: snap.id,
        vmId: vm.id,
        state: "created",
        purpose: "restored layer snapshot",
      });
      await engine.snapshots.waitOk(vm.id, snap.id, flow.wait(flow.deadlines.snapshotMs));
    }

    flow.progress.begin(
      "upload",
      ids.reduce((s, d) => s + d.disk.layers.reduce((t, l) => t + l.size, 0), 0),
    );
    for (const d of ids) {
      for (const [i, layer] of d.disk.layers.entries()) {
        flow.step = `upload ${d.disk.alias} layer ${i + 1}/${d.disk.layers.length}`;
        await uploadLayer(flow, opts, d.diskId, d.imageIds[i] as string, layer, d.patches[i]);
      }
    }

    flow.step = "wait for disks";
    for (const d of ids) {
      const disk = await engine.disks.waitOk(d.diskId, flow.wait(flow.deadlines.diskMs));
      const top = d.imageIds[d.imageIds.length - 1];
      if (disk.imageId !== undefined && disk.imageId !== top)
        throw new ChainError(
          `restored disk ${d.disk.alias}: active volume is ${disk.imageId}, expected ${top}`,
        );
    }
    await engine.vms.waitUnlocked(vm.id, flow.wait(flow.deadlines.diskMs));
    flow.event("info", "done", `VM ${target.name} restored from ${view.id}`, { vmId: vm.id, identity });
    return {
      vmId: vm.id,
      identity,
      disks: ids.map((d) => ({ sourceDiskId: d.disk.diskId, diskId: d.diskId, imageIds: d.imageIds })),
    };
  } catch (e) {
    const error = flow.fail(e);
    flow.event("error", error.step, error.message);
    // Uploads are cancelled (the engine deletes their disks), then the VM with its disks, then loose disks.
    await cleanupRecords(flow, engine, journal);
    throw flow.fail(error);
  }
}

async function recordVm(flow: FlowContext, id: string, name: string): Promise<void> {
  await flow.record({ kind: "vm", id, vmId: id, state: "created", purpose: `restored VM ${name}` });
}

/** Uploads one stored layer into its volume as it is (file backend) and finalizes it. */
export async function uploadLayer(
  flow: FlowContext,
  opts: {
    engine: EngineClient;
    repository: Repository;
    imageio: RestoreVmOptions["imageio"];
    jobRef?: string;
  },
  diskId: string,
  imageId: string,
  layer: PointLayer,
  patch: Buffer | undefined,
): Promise<void> {
  // Guest data is uploaded as guest data (format raw): the host writes it into the volume in the disk's format.
  const t = await FlowTransfer.start(
    flow,
    opts.engine,
    layer.content === "guest"
      ? { direction: "upload", diskId, format: "raw" }
      : { direction: "upload", diskId, snapshot: imageId },
    "layer upload",
    opts.jobRef,
  );
  try {
    let last = 0;
    const ticket = await t.open(opts.imageio, {
      onProgress: (p) => {
        flow.progress.add(p.done - last);
        last = p.done;
      },
    });
    try {
      const segments = opts.repository.readLayerSegments(layer.layerId, { signal: flow.signal });
      await ticket.upload(withPatchedStart(segments, patch), { signal: flow.signal, total: layer.size });
    } finally {
      await ticket.close();
    }
    // The host verifies format, size and backing name here (ref §6.3): a failure comes back in its words.
    await t.finalize();
  } catch (e) {
    await t.cancel();
    throw new Error(`uploading layer ${layer.imageId}: ${errorText(e)}`, { cause: e });
  }
}

/** The engine refused an import because a NIC's MAC address is taken in the target's MAC pool. */
function isMacInUse(e: unknown): boolean {
  return (
    e instanceof EngineError && e.status === 409 && /MAC Address .* is already in use/i.test(e.detail ?? "")
  );
}
