import {
  backingNameMatches,
  ChainError,
  type ChainLink,
  composeChain,
  detectImageFormat,
  readQcow2Header,
} from "@lifeboat/disk-image";
import type { LayerManifest, WriterSession } from "@lifeboat/repository";
import type { Disk, DiskAttachment, DiskSnapshot, EngineClient, Snapshot } from "../engine";
import type { ImageioTicket } from "../imageio";
import { parseOvf } from "../ovf";
import { cleanupRecords, removeSnapshot } from "./cleanup";
import { engineWords, errorText, FlowContext } from "./context";
import type { RestorePointDocument } from "./manifest";
import { FlowTransfer, ticketSource } from "./transfer";
import type {
  BackupDiskResult,
  BackupLayerResult,
  BackupOptions,
  BackupResult,
  BackupVmFacts,
  EngineObjectRecord,
  KnownLayer,
} from "./types";

const MiB = 1024 * 1024;

/** A disk to back up, with what the engine said about it and its attachment. */
export interface DiskPlan {
  disk: Disk;
  attachment: DiskAttachment;
}

/** One volume of a chain as the backup sees it: the engine's disk snapshot and, once read, its qcow2 header. */
interface Volume {
  snap: DiskSnapshot;
  backingName?: string | null;
}

/**
 * Backs up one VM in snapshot-chain mode (design §2): OVF first, a temporary snapshot, every read-only volume
 * of every image disk downloaded through imageio (file backend: the volume bytes as they are) into ONE
 * repository session — or reused when the daemon's checksum says it did not change — then the restore point
 * manifest, last. Whatever this run created on the engine is removed on every exit path (the snapshot is kept
 * only on success with `keepSnapshot`); what cannot be removed is reported as a Leftover.
 */
export async function backupVm(opts: BackupOptions): Promise<BackupResult> {
  const { engine, repository } = opts;
  // The flow's own journal: what to clean up when it fails (the caller's hook journals it too).
  const journal: EngineObjectRecord[] = [];
  const record = async (r: EngineObjectRecord) => {
    journal.push(r);
    await opts.onEngineObject?.(r);
  };
  const flow = new FlowContext({ ...opts, onEngineObject: record }, opts.deadlines);
  let snapshot: Snapshot | undefined;
  let session: WriterSession | undefined;
  let success = false;
  try {
    flow.step = "read VM";
    const vm = await engine.vms.get(opts.vmId, { signal: flow.signal });
    flow.step = "read OVF";
    // Before anything locks the disks: the engine leaves the OVF out while a disk is locked (OVF ref §1).
    const ovf = await engine.vms.waitForOvf(opts.vmId, flow.wait(flow.deadlines.ovfMs));
    const facts = await vmFacts(engine, vm, ovf, flow);
    flow.event("info", "read OVF", `VM ${vm.name}: OVF read (${ovf.length} bytes)`);

    flow.step = "list disks";
    const plans = await disksToBackUp(engine, opts.vmId, flow);
    session = await repository.openSession(`backup of VM ${vm.name} (${opts.jobRef})`);

    const done: Array<{ plan: DiskPlan; disk: BackupDiskResult }> = [];
    let transferredBytes = 0;
    let newStoredBytes = 0;
    if (plans.length > 0) {
      flow.step = "snapshot";
      const description = `Lifeboat backup ${opts.jobRef} (temporary)`;
      try {
        snapshot = await engine.snapshots.add(
          opts.vmId,
          {
            description,
            persistMemorystate: false,
            diskAttachments: plans.map((p) => ({ diskId: p.disk.id })),
          },
          { signal: flow.signal },
        );
      } catch (e) {
        // The answer may have been lost after the engine made it: find it by its (unique) description.
        const made = await engine.snapshots
          .list(opts.vmId)
          .then((all) => all.find((s) => s.description === description))
          .catch(() => undefined);
        if (made)
          await flow.record({
            kind: "snapshot",
            id: made.id,
            vmId: opts.vmId,
            state: "created",
            purpose: "temporary backup snapshot",
          });
        throw e;
      }
      await flow.record({
        kind: "snapshot",
        id: snapshot.id,
        vmId: opts.vmId,
        state: "created",
        purpose: "temporary backup snapshot",
      });
      await engine.snapshots.waitOk(opts.vmId, snapshot.id, flow.wait(flow.deadlines.snapshotMs));
      flow.event("info", "snapshot", `temporary snapshot ${snapshot.id} created`, {
        snapshotId: snapshot.id,
      });

      flow.step = "list volumes";
      const descriptions = new Map(
        (await engine.snapshots.list(opts.vmId, { signal: flow.signal })).map((s) => [s.id, s.description]),
      );
      const chains: Array<{ plan: DiskPlan; volumes: Volume[] }> = [];
      for (const plan of plans)
        chains.push({ plan, volumes: await readOnlyVolumes(engine, plan, flow, opts) });
      const estimate = chains.reduce(
        (s, c) => s + c.volumes.reduce((t, v) => t + Number(v.snap.actualSize ?? 0n), 0),
        0,
      );
      flow.progress.begin("download", estimate);

      for (const { plan, volumes } of chains) {
        const layers: BackupLayerResult[] = [];
        for (const [i, vol] of volumes.entries()) {
          flow.step = `download ${plan.disk.alias ?? plan.disk.id} layer ${i + 1}/${volumes.length}`;
          const parent = volumes[i - 1]?.snap.id ?? null;
          const r = await backupLayer(flow, opts, session, plan, vol, parent, descriptions);
          transferredBytes += r.transferred;
          newStoredBytes += r.added;
          layers.push(r.layer);
        }
        // The order came from the engine's parent links; the qcow2 headers downloaded must say the same.
        const fromHeaders = composeChain(
          volumes.map((v): ChainLink => ({ name: v.snap.id, backingName: v.backingName ?? null })),
        ).map((l) => l.name);
        if (fromHeaders.join() !== layers.map((l) => l.imageId).join())
          throw new ChainError(
            `disk ${plan.disk.alias ?? plan.disk.id}: the qcow2 backing files give the order ${fromHeaders.join(" -> ")}, the engine ${layers.map((l) => l.imageId).join(" -> ")}`,
          );
        done.push({ plan, disk: diskResult(plan, layers) });
      }
    } else {
      flow.event("warn", "list disks", `VM ${vm.name} has no image disk to back up: only its OVF is kept`);
    }

    flow.step = "write restore point";
    flow.progress.begin("finishing", 0);
    const kept = opts.keepSnapshot === true && snapshot !== undefined;
    const document: RestorePointDocument = {
      id: opts.restorePointId,
      vm: { ...facts, clusterId: vm.cluster?.id },
      engine: { url: engine.baseUrl },
      ovf,
      disks: done.map(({ plan, disk: d }) => ({
        diskId: d.diskId,
        alias: d.alias,
        description: plan.disk.description,
        interface: d.interface,
        bootable: d.bootable,
        active: plan.attachment.active ?? true,
        readOnly: plan.attachment.readOnly ?? false,
        passDiscard: plan.attachment.passDiscard ?? false,
        provisionedSize: d.provisionedSize,
        format: d.format,
        sparse: plan.disk.sparse,
        storageDomain: d.storageDomain,
        layers: d.layers.map(({ reused: _, ...l }) => l),
      })),
      tags: opts.tags ?? [],
      description: opts.description ?? "",
      mode: "snapshot-chain",
      jobRef: opts.jobRef,
      snapshot: snapshot ? { id: snapshot.id, kept } : null,
      transferredBytes,
    };
    const restorePoint = await repository.writeRestorePoint(document, { session });
    flow.event("info", "write restore point", `restore point ${restorePoint.id} written`, {
      transferredBytes,
      newStoredBytes,
    });
    success = true;
    // Everything is durable and named by the restore point: gc may go on.
    await session.close();

    if (snapshot && !kept) {
      flow.step = "remove snapshot";
      await removeTemporarySnapshot(flow, engine, opts.vmId, snapshot.id, journal);
    } else if (snapshot) {
      flow.event("info", "snapshot", `temporary snapshot ${snapshot.id} kept`, { snapshotId: snapshot.id });
    }
    return {
      restorePoint,
      vm: facts,
      ovf,
      disks: done.map((d) => d.disk),
      snapshot: { id: snapshot?.id ?? "", kept },
      transferredBytes,
      newStoredBytes,
      leftovers: flow.leftovers,
    };
  } catch (e) {
    const error = flow.fail(e);
    flow.event("error", error.step, error.message);
    if (!success) {
      // Transfers first (they hold the disks), then the snapshot, also when it was to be kept.
      await cleanupRecords(flow, engine, journal);
    }
    throw flow.fail(error);
  } finally {
    await session?.close().catch(() => undefined);
  }
}

/** Removes the temporary snapshot after a successful backup; a failure becomes a leftover, not an error. */
async function removeTemporarySnapshot(
  flow: FlowContext,
  engine: EngineClient,
  vmId: string,
  snapshotId: string,
  journal: EngineObjectRecord[],
): Promise<void> {
  try {
    await removeSnapshot(flow, engine, vmId, snapshotId, flow.deadline(flow.deadlines.snapshotRemoveMs));
    const r = journal.find((x) => x.kind === "snapshot" && x.id === snapshotId);
    if (r) await flow.record({ ...r, state: "removed" });
    flow.event("info", "remove snapshot", `temporary snapshot ${snapshotId} removed`);
  } catch (e) {
    flow.leftover({
      kind: "snapshot",
      id: snapshotId,
      vmId,
      description: "temporary backup snapshot",
      error: engineWords(e) ?? errorText(e),
    });
  }
}

export async function vmFacts(
  engine: EngineClient,
  vm: Awaited<ReturnType<EngineClient["vms"]["get"]>>,
  ovf: string,
  flow: FlowContext,
): Promise<BackupVmFacts> {
  let info: ReturnType<typeof parseOvf> | undefined;
  try {
    info = parseOvf(ovf);
  } catch (e) {
    flow.event("warn", "read OVF", `the OVF cannot be parsed: ${errorText(e)}`);
  }
  let clusterName = info?.vm.clusterName ?? undefined;
  if (vm.cluster?.id) {
    try {
      clusterName = (await engine.clusters.get(vm.cluster.id, { signal: flow.signal })).name;
    } catch {
      // The OVF's cluster name is good enough for the catalog.
    }
  }
  const cpu = info?.vm.cpu;
  return {
    id: vm.id,
    name: vm.name,
    osType: vm.osType ?? info?.vm.os ?? undefined,
    clusterName,
    memoryMiB: vm.memory !== undefined ? Number(vm.memory / BigInt(MiB)) : (info?.vm.memoryMiB ?? undefined),
    cpuCount: cpu ? cpu.vcpus : undefined,
    nicCount: info?.nics.length ?? 0,
  };
}

/** The VM's image disks; shareable disks and direct LUNs cannot be snapshotted and are skipped with an event. */
export async function disksToBackUp(
  engine: EngineClient,
  vmId: string,
  flow: FlowContext,
): Promise<DiskPlan[]> {
  const plans: DiskPlan[] = [];
  for (const attachment of await engine.diskAttachments.list(vmId, { signal: flow.signal })) {
    const disk = attachment.disk ?? (await engine.disks.get(attachment.diskId, { signal: flow.signal }));
    const name = disk.alias ?? disk.id;
    if (disk.storageType !== undefined && disk.storageType !== "image") {
      flow.event("warn", "list disks", `disk ${name} is skipped: ${disk.storageType} disks have no volumes`, {
        diskId: disk.id,
      });
      continue;
    }
    if (disk.shareable) {
      flow.event("warn", "list disks", `disk ${name} is skipped: shareable disks cannot be snapshotted`, {
        diskId: disk.id,
      });
      continue;
    }
    plans.push({ disk, attachment });
  }
  return plans;
}

/**
 * The read-only volumes of a disk after the temporary snapshot, base first: every volume but the active one,
 * ordered by the engine's parent links (4.4.3+). Older engines give no links: then every volume's qcow2
 * header is read first and the chain composed from the backing names.
 */
async function readOnlyVolumes(
  engine: EngineClient,
  plan: DiskPlan,
  flow: FlowContext,
  opts: BackupOptions,
): Promise<Volume[]> {
  const name = plan.disk.alias ?? plan.disk.id;
  const disk = await engine.disks.get(plan.disk.id, { signal: flow.signal });
  const all = await engine.diskSnapshots.listForDisk(plan.disk.id, {
    storageDomainId: plan.disk.storageDomains[0]?.id,
    signal: flow.signal,
  });
  const bad = all.find((v) => v.status !== undefined && v.status !== "ok");
  if (bad) throw new ChainError(`disk ${name}: volume ${bad.id} is ${bad.status}`);
  const bases = all.filter((v) => !v.parent);
  let ordered: Volume[];
  if (bases.length === 1) {
    ordered = composeChain(all.map((v) => ({ name: v.id, backingName: v.parent?.id ?? null, v }))).map(
      (l) => ({ snap: l.v }),
    );
  } else {
    flow.event(
      "info",
      "list volumes",
      `disk ${name}: the engine gives no parent links; reading qcow2 headers`,
    );
    const headed: Array<ChainLink & { v: DiskSnapshot }> = [];
    for (const v of all.filter((x) => x.id !== disk.imageId))
      headed.push({ name: v.id, backingName: await readBackingName(flow, opts, plan.disk.id, v), v });
    const active = all.find((x) => x.id === disk.imageId);
    ordered = composeChain(headed).map((l) => ({ snap: l.v, backingName: l.backingName }));
    if (active) ordered.push({ snap: active });
  }
  const top = ordered[ordered.length - 1];
  if (!top || top.snap.id !== disk.imageId)
    throw new ChainError(
      `disk ${name}: the active volume ${disk.imageId ?? "(unknown)"} is not the top of its chain (${ordered.map((v) => v.snap.id).join(" -> ")})`,
    );
  const readOnly = ordered.slice(0, -1);
  if (readOnly.length === 0)
    throw new ChainError(`disk ${name}: the temporary snapshot left no read-only volume to back up`);
  return readOnly;
}

/** Opens a download of one volume only to read its qcow2 header (old engines without parent links). */
async function readBackingName(
  flow: FlowContext,
  opts: BackupOptions,
  diskId: string,
  v: DiskSnapshot,
): Promise<string | null> {
  const t = await FlowTransfer.start(
    flow,
    opts.engine,
    { direction: "download", diskId, snapshot: v.id },
    "volume header read",
  );
  let read = false;
  try {
    const ticket = await t.open(opts.imageio);
    try {
      const name = (await readHeader(flow, ticket, v.id, v.format)).backingName;
      read = true;
      return name;
    } finally {
      await ticket.close();
    }
  } finally {
    if (read) await t.finalize();
    else await t.cancel();
  }
}

/**
 * Format, backing name and virtual size from the first cluster of a volume on the engine. A volume the engine
 * calls raw is raw whatever its first bytes are (a guest may well keep a qcow2 image on a raw disk); one it
 * calls cow must be a qcow2.
 */
async function readHeader(
  flow: FlowContext,
  ticket: ImageioTicket,
  imageId: string,
  engineFormat: string | undefined,
): Promise<{ format: "raw" | "cow"; backingName: string | null; virtualSize: number; size: number }> {
  const size = await ticket.size();
  if (engineFormat === "raw") return { format: "raw", backingName: null, virtualSize: size, size };
  const src = ticketSource(ticket, size, flow.signal);
  if ((await detectImageFormat(src)) === "raw") {
    if (engineFormat === "cow")
      throw new ChainError(`volume ${imageId}: the engine says cow, but its bytes are not a qcow2 image`);
    return { format: "raw", backingName: null, virtualSize: size, size };
  }
  const h = await readQcow2Header(src, `volume ${imageId}`);
  return { format: "cow", backingName: h.backingFile, virtualSize: h.size, size };
}

/** A known layer usable for this volume: same checksum and size, every chunk still in the repository. */
async function reusable(
  flow: FlowContext,
  opts: BackupOptions,
  imageId: string,
  known: KnownLayer | undefined,
  checksum: string | undefined,
  size: number,
): Promise<LayerManifest | undefined> {
  if (!known?.imageioChecksum || !checksum) return undefined;
  if (known.imageioChecksum !== checksum || known.size !== size) return undefined;
  try {
    const m = await opts.repository.reuseLayer(known.layerId);
    if (m.sha256 !== known.sha256 || m.size !== size || (m.meta.imageId ?? imageId) !== imageId) {
      flow.event("warn", flow.step, `layer ${known.layerId} is not what the catalog says; downloading again`);
      return undefined;
    }
    return m;
  } catch (e) {
    flow.event(
      "warn",
      flow.step,
      `layer ${known.layerId} cannot be reused (${errorText(e)}); downloading again`,
    );
    return undefined;
  }
}

/** One volume: transfer, header check, checksum, reuse or download into the repository, finalize. */
async function backupLayer(
  flow: FlowContext,
  opts: BackupOptions,
  session: WriterSession,
  plan: DiskPlan,
  vol: Volume,
  parent: string | null,
  descriptions: Map<string, string | undefined>,
): Promise<{ layer: BackupLayerResult; transferred: number; added: number }> {
  const imageId = vol.snap.id;
  const estimate = Number(vol.snap.actualSize ?? 0n);
  const t = await FlowTransfer.start(
    flow,
    opts.engine,
    { direction: "download", diskId: plan.disk.id, snapshot: imageId },
    "layer download",
    opts.jobRef,
  );
  let transferred = 0;
  try {
    const ticket = await t.open(opts.imageio);
    let result: { layer: BackupLayerResult; added: number };
    try {
      const head = await readHeader(flow, ticket, imageId, vol.snap.format);
      flow.progress.adjustTotal(head.size - estimate);
      // Refuse a chain that does not hold together before storing anything of it.
      if (parent === null ? head.backingName !== null : !backingNameMatches(head.backingName ?? "", parent))
        throw new ChainError(
          `volume ${imageId} of disk ${plan.disk.alias ?? plan.disk.id} names ${head.backingName === null ? "no backing file" : `backing file "${head.backingName}"`}, but the engine says its parent is ${parent ?? "none"}`,
        );
      vol.backingName = head.backingName;
      const checksum = ticket.options.features.includes("checksum")
        ? (await ticket.checksum()).checksum
        : undefined;
      const known = await opts.knownLayer?.(imageId);
      const base = {
        imageId,
        parentImageId: parent,
        format: head.format,
        virtualSize: head.virtualSize,
        imageioChecksum: checksum,
        snapshotId: vol.snap.snapshot?.id,
        snapshotDescription: vol.snap.snapshot ? descriptions.get(vol.snap.snapshot.id) : undefined,
      };
      const reuse = await reusable(flow, opts, imageId, known, checksum, head.size);
      if (reuse) {
        flow.progress.add(head.size);
        flow.event("info", flow.step, `volume ${imageId} unchanged: layer ${reuse.id} reused`, {
          imageId,
          layerId: reuse.id,
        });
        result = {
          layer: { ...base, size: reuse.size, sha256: reuse.sha256, layerId: reuse.id, reused: true },
          added: 0,
        };
      } else {
        flow.event(
          "info",
          flow.step,
          known
            ? `volume ${imageId} changed since layer ${known.layerId}: downloading ${head.size} bytes`
            : `volume ${imageId}: downloading ${head.size} bytes`,
          { imageId },
        );
        let lastBytes = 0;
        const written = await opts.repository.writeLayer(
          ticket.download({
            signal: flow.signal,
            onProgress: (p) => {
              transferred = p.dataBytes;
            },
          }),
          { ...base, diskId: plan.disk.id, vmId: opts.vmId },
          {
            session,
            signal: flow.signal,
            expectedSize: head.size,
            onProgress: (p) => {
              flow.progress.add(p.bytes - lastBytes);
              lastBytes = p.bytes;
            },
          },
        );
        flow.event("info", flow.step, `volume ${imageId}: ${written.manifest.size} bytes stored`, {
          imageId,
          layerId: written.layerId,
          newChunks: written.newChunks,
          reusedChunks: written.reusedChunks,
          addedBytes: written.addedBytes,
        });
        result = {
          layer: {
            ...base,
            size: written.manifest.size,
            sha256: written.manifest.sha256,
            layerId: written.layerId,
            reused: false,
          },
          added: written.addedBytes,
        };
      }
    } finally {
      // Every data connection is closed before finalize (ref §8.1).
      await ticket.close();
    }
    try {
      await t.finalize();
    } catch (e) {
      // The layer is durable; a transfer the engine will not finalize is cancelled instead (downloads may be).
      flow.event(
        "warn",
        flow.step,
        `finalizing transfer ${t.id} failed (${engineWords(e) ?? errorText(e)}); cancelling it`,
      );
      await t.cancel();
      // A cancel is not a reason to go on.
      flow.throwIfAborted();
    }
    return { ...result, transferred };
  } catch (e) {
    await t.cancel();
    throw e;
  }
}

function diskResult(plan: DiskPlan, layers: BackupLayerResult[]): BackupDiskResult {
  const { disk, attachment } = plan;
  const sd = disk.storageDomains[0];
  return {
    diskId: disk.id,
    alias: disk.alias ?? disk.name ?? disk.id,
    interface: attachment.interface,
    bootable: attachment.bootable ?? false,
    provisionedSize: Number(disk.provisionedSize ?? BigInt(layers[layers.length - 1]?.virtualSize ?? 0)),
    format: layers[0]?.format ?? "cow",
    storageDomain: sd ? { id: sd.id, ...(sd.name ? { name: sd.name } : {}) } : undefined,
    layers,
  };
}
