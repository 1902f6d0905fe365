import { ACTIVE_TRANSFER_PHASES, FINISHED_TRANSFER_PHASES } from "@lifeboat/ovirt-protocol";
import type { EngineClient } from "../engine";
import { poll } from "../wait";
import { engineWords, errorText, FlowContext, isNotFound } from "./context";
import type { EngineObjectRecord, FlowDeadlines, FlowHooks, Leftover } from "./types";

/**
 * The engine objects of a journal still outstanding: created and not removed since, newest first (so a VM goes
 * before the disks created for it, a transfer before the snapshot it reads).
 */
export function outstanding(records: readonly EngineObjectRecord[]): EngineObjectRecord[] {
  const open = new Map<string, EngineObjectRecord>();
  for (const r of records) {
    const key = `${r.kind}:${r.id}`;
    if (r.state === "created") {
      open.delete(key);
      open.set(key, r);
    } else open.delete(key);
  }
  return [...open.values()].reverse();
}

/** Removes a snapshot (merging it), retrying while the engine answers 409, and waits until it is gone. */
export async function removeSnapshot(
  ctx: FlowContext,
  engine: EngineClient,
  vmId: string,
  snapshotId: string,
  deadline: number,
): Promise<void> {
  await ctx.retryBusy(`removing snapshot ${snapshotId}`, deadline, async () => {
    try {
      await engine.snapshots.remove(vmId, snapshotId);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  });
  await engine.snapshots.waitRemoved(vmId, snapshotId, { deadline });
}

/** Polls `get` until it answers 404. */
async function waitGone(what: string, engine: EngineClient, get: () => Promise<unknown>, deadline: number) {
  await poll(
    what,
    async () => {
      try {
        await get();
      } catch (e) {
        if (isNotFound(e)) return { done: true, value: undefined };
        throw e;
      }
      return { done: false };
    },
    { deadline, defaultTimeoutMs: 0, defaultIntervalMs: engine.pollIntervalMs },
  );
}

/** Ends one outstanding object; true when it is gone (or was already), false when it became a leftover. */
async function cleanOne(
  ctx: FlowContext,
  engine: EngineClient,
  r: EngineObjectRecord,
  vmsBeingRemoved: ReadonlySet<string>,
): Promise<boolean> {
  const { deadline } = ctx.cleanupWait();
  try {
    switch (r.kind) {
      case "image_transfer": {
        let phase: string;
        try {
          phase = (await engine.imageTransfers.get(r.id)).phase;
        } catch (e) {
          if (isNotFound(e)) return true;
          throw e;
        }
        if (ACTIVE_TRANSFER_PHASES.has(phase))
          await ctx.retryBusy(`cancelling image transfer ${r.id}`, deadline, () =>
            engine.imageTransfers.cancel(r.id),
          );
        // An upload cancel removes its disk: wait until the engine is through with it.
        await poll(
          `image transfer ${r.id} to end`,
          async () => {
            try {
              const p = (await engine.imageTransfers.get(r.id)).phase;
              return FINISHED_TRANSFER_PHASES.has(p)
                ? { done: true, value: undefined }
                : { done: false, state: p };
            } catch (e) {
              if (isNotFound(e)) return { done: true, value: undefined };
              throw e;
            }
          },
          { deadline, defaultTimeoutMs: 0, defaultIntervalMs: Math.min(engine.pollIntervalMs, 1000) },
        );
        return true;
      }
      case "backup": {
        // Field failures row 3: finalize is refused while a transfer of the backup is open, so transfers are
        // cleaned first (see the order below); a backup already ended (or gone, before 4.4.7) is done.
        if (r.vmId === undefined) throw new Error("the record does not name the backup's VM");
        const vmId = r.vmId;
        let phase: string;
        try {
          phase = (await engine.backups.get(vmId, r.id)).phase;
        } catch (e) {
          if (isNotFound(e)) return true;
          throw e;
        }
        if (phase === "succeeded" || phase === "failed") return true;
        if (phase !== "finalizing")
          await ctx.retryBusy(`finalizing backup ${r.id}`, deadline, () =>
            engine.backups.finalize(vmId, r.id),
          );
        await engine.backups.waitFinalized(vmId, r.id, { deadline });
        return true;
      }
      case "snapshot": {
        if (r.vmId === undefined) throw new Error("the record does not name the snapshot's VM");
        // A snapshot of a VM that is removed anyway goes with it.
        if (vmsBeingRemoved.has(r.vmId)) return true;
        try {
          await engine.snapshots.get(r.vmId, r.id);
        } catch (e) {
          if (isNotFound(e)) return true;
          throw e;
        }
        await removeSnapshot(ctx, engine, r.vmId, r.id, ctx.deadline(ctx.deadlines.snapshotRemoveMs));
        return true;
      }
      case "vm": {
        await ctx.retryBusy(`removing VM ${r.id}`, deadline, async () => {
          try {
            await engine.vms.remove(r.id, { detachOnly: false });
          } catch (e) {
            if (!isNotFound(e)) throw e;
          }
        });
        await waitGone(`VM ${r.id} to be removed`, engine, () => engine.vms.get(r.id), deadline);
        return true;
      }
      case "disk": {
        await ctx.retryBusy(`removing disk ${r.id}`, deadline, async () => {
          try {
            await engine.disks.remove(r.id);
          } catch (e) {
            if (!isNotFound(e)) throw e;
          }
        });
        await waitGone(`disk ${r.id} to be removed`, engine, () => engine.disks.get(r.id), deadline);
        return true;
      }
    }
  } catch (e) {
    ctx.leftover({
      kind: r.kind,
      id: r.id,
      ...(r.vmId !== undefined ? { vmId: r.vmId } : {}),
      description: r.purpose,
      error: engineWords(e) ?? errorText(e),
    });
    return false;
  }
}

/**
 * Removes what a journal says is still on the engine: transfers cancelled (an upload's disk goes with it), VMs
 * removed with their disks, snapshots removed (merged), disks removed. Each removal is journaled through
 * `onEngineObject`. Runs without the AbortSignal of a flow; what cannot be removed is returned as a leftover.
 */
export async function cleanupRecords(
  ctx: FlowContext,
  engine: EngineClient,
  records: readonly EngineObjectRecord[],
): Promise<{ cleaned: EngineObjectRecord[]; leftovers: Leftover[] }> {
  const todo = outstanding(records);
  const order: EngineObjectRecord["kind"][] = ["image_transfer", "backup", "vm", "snapshot", "disk"];
  const vms = new Set(todo.filter((r) => r.kind === "vm").map((r) => r.id));
  const cleaned: EngineObjectRecord[] = [];
  const before = ctx.leftovers.length;
  for (const kind of order) {
    for (const r of todo.filter((x) => x.kind === kind)) {
      if (!(await cleanOne(ctx, engine, r, vms))) continue;
      const removed: EngineObjectRecord = { ...r, state: "removed" };
      try {
        await ctx.record(removed);
      } catch {
        // The object is gone; a journal that missed it only makes a later cleanup find nothing.
      }
      cleaned.push(removed);
    }
  }
  return { cleaned, leftovers: ctx.leftovers.slice(before) };
}

/**
 * Recovery after a crash: given the journal of a dead flow (every EngineObjectRecord it reported), cancels
 * transfers still active, removes temporary snapshots, half-restored VMs and disks. Never throws for one
 * object: what cannot be removed comes back as a leftover.
 */
export async function cleanupEngineObjects(
  engine: EngineClient,
  records: EngineObjectRecord[],
  hooks: FlowHooks & { deadlines?: FlowDeadlines } = {},
): Promise<{ cleaned: EngineObjectRecord[]; leftovers: Leftover[] }> {
  const ctx = new FlowContext(hooks, hooks.deadlines);
  ctx.step = "cleanup";
  const res = await cleanupRecords(ctx, engine, records);
  for (const r of res.cleaned) ctx.event("info", "cleanup", `removed ${r.kind} ${r.id} (${r.purpose})`);
  return res;
}
