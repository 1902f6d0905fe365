import { randomUUID } from "node:crypto";
import { guestSegments } from "../imageio";
import { openPointChain } from "./chain-source";
import { cleanupRecords } from "./cleanup";
import { pointDisk, pointView } from "./manifest";
import { isBlockDomain, journaledContext, resolveStorageDomain, verifyPoint } from "./restore";
import { FlowTransfer } from "./transfer";
import type { RestoreDiskOptions } from "./types";

/**
 * Restores one disk of a restore point as a new floating disk: the chain flattened to guest data through
 * `ImageChain` over the repository's layers and uploaded with `format=raw` (the engine's NBD backend writes
 * it into the new volume in the disk's format). On failure the upload is cancelled, which deletes the disk.
 */
export async function restoreDisk(opts: RestoreDiskOptions): Promise<{ diskId: string }> {
  const { engine, repository, target } = opts;
  const { flow, journal } = journaledContext(opts, opts.deadlines);
  try {
    flow.step = "read restore point";
    const view = pointView(opts.restorePoint);
    const disk = pointDisk(view, opts.diskId);
    if (opts.verify !== false) await verifyPoint(flow, repository, view);

    flow.step = "open chain";
    const chain = await openPointChain(repository, disk);
    try {
      flow.step = "create disk";
      const sd = await resolveStorageDomain(engine, target.storageDomain, disk.storageDomain, flow.signal);
      const format = target.format ?? "cow";
      const created = { id: randomUUID() };
      // The id is ours alone: journaled before it is asked for, so a lost answer cannot hide it from cleanup.
      await flow.record({
        kind: "disk",
        id: created.id,
        diskId: created.id,
        state: "created",
        purpose: `restored disk ${target.alias}`,
      });
      await engine.disks.add(
        {
          id: created.id,
          name: target.alias,
          description: disk.description || undefined,
          format,
          sparse: format === "cow" || !isBlockDomain(sd),
          provisionedSize: chain.virtualSize,
          storageDomain: { id: sd.id },
          correlationId: opts.jobRef,
        },
        { signal: flow.signal },
      );
      await engine.disks.waitOk(created.id, flow.wait(flow.deadlines.diskMs));

      flow.step = "upload";
      flow.progress.begin("upload", chain.virtualSize);
      const t = await FlowTransfer.start(
        flow,
        engine,
        { direction: "upload", diskId: created.id, format: "raw" },
        "disk upload",
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
          // A new sparse disk reads as zeroes, so ranges no layer holds are left alone; a preallocated raw
          // volume on block storage may hold old bytes and is zeroed there.
          await ticket.upload(guestSegments(chain, 0, chain.virtualSize, flow.signal), {
            signal: flow.signal,
            total: chain.virtualSize,
            zeroHoles: format === "raw" && isBlockDomain(sd),
          });
        } finally {
          await ticket.close();
        }
        await t.finalize();
      } catch (e) {
        await t.cancel();
        throw e;
      }
      await engine.disks.waitOk(created.id, flow.wait(flow.deadlines.diskMs));
      flow.event("info", "done", `disk ${target.alias} restored from ${view.id}`, { diskId: created.id });
      return { diskId: created.id };
    } finally {
      await chain.close();
    }
  } catch (e) {
    const error = flow.fail(e);
    flow.event("error", error.step, error.message);
    await cleanupRecords(flow, engine, journal);
    throw flow.fail(error);
  }
}
