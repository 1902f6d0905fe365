import type { Loose, SnapshotStatus, SnapshotType } from "@lifeboat/ovirt-protocol";
import { z } from "zod";
import { poll, type WaitOptions } from "../wait";
import { type EngineClient, seg } from "./client";
import { type Disk, zDisk } from "./disks";
import { EngineError, EngineStateError } from "./errors";
import { type Ref, zBool, zCollection, zDate, zEnum, zRef } from "./json";

export interface Snapshot {
  id: string;
  description?: string;
  date?: Date;
  status: Loose<SnapshotStatus>;
  type?: Loose<SnapshotType>;
  persistMemorystate?: boolean;
  vm?: Ref;
  /** The VM configuration at snapshot time, only with `allContent`. */
  ovf?: string;
}

const zSnapshot = z
  .object({
    id: z.string().min(1),
    description: z.string().optional(),
    date: zDate.optional(),
    snapshot_status: zEnum.optional(),
    snapshot_type: zEnum.optional(),
    persist_memorystate: zBool.optional(),
    vm: zRef.optional(),
    initialization: z
      .object({
        configuration: z.object({ type: z.string().optional(), data: z.string().optional() }).optional(),
      })
      .optional(),
  })
  .transform(
    (s): Snapshot => ({
      id: s.id,
      description: s.description,
      date: s.date,
      status: s.snapshot_status ?? "ok",
      type: s.snapshot_type,
      persistMemorystate: s.persist_memorystate,
      vm: s.vm,
      ovf: s.initialization?.configuration?.data,
    }),
  );
const zSnapshots = zCollection("snapshot", zSnapshot);
const zSnapshotDisks = zCollection("disk", zDisk);

export interface AddSnapshotSpec {
  description: string;
  /** Default false: a backup never wants memory (the engine's default is true). */
  persistMemorystate?: boolean;
  /**
   * Restricts the snapshot to these disks; `imageId` names the NEW active volume of that disk (the restore trick,
   * ref §6.3). Omitted → all disks; empty → configuration-only snapshot.
   */
  diskAttachments?: Array<{ diskId: string; imageId?: string; initialSize?: bigint | number }>;
  correlationId?: string;
}

/** VM snapshots: `/vms/{vm}/snapshots`. */
export class Snapshots {
  constructor(private readonly engine: EngineClient) {}

  async list(vmId: string, opts: { allContent?: boolean; signal?: AbortSignal } = {}): Promise<Snapshot[]> {
    return this.engine.get(`/vms/${seg(vmId)}/snapshots`, zSnapshots, {
      query: { all_content: opts.allContent ? "true" : undefined },
      signal: opts.signal,
    });
  }

  async get(
    vmId: string,
    snapshotId: string,
    opts: { allContent?: boolean; signal?: AbortSignal } = {},
  ): Promise<Snapshot> {
    return this.engine.get(`/vms/${seg(vmId)}/snapshots/${seg(snapshotId)}`, zSnapshot, {
      query: { all_content: opts.allContent ? "true" : undefined },
      signal: opts.signal,
    });
  }

  /** The disks in a snapshot; each `imageId` is that snapshot's volume. */
  async disks(vmId: string, snapshotId: string, opts: { signal?: AbortSignal } = {}): Promise<Disk[]> {
    return this.engine.get(`/vms/${seg(vmId)}/snapshots/${seg(snapshotId)}/disks`, zSnapshotDisks, opts);
  }

  /** Adds a snapshot (answer: usually `locked`). Use `create` to also wait for `ok`. */
  async add(vmId: string, spec: AddSnapshotSpec, opts: { signal?: AbortSignal } = {}): Promise<Snapshot> {
    const body: Record<string, unknown> = {
      description: spec.description,
      persist_memorystate: String(spec.persistMemorystate ?? false),
    };
    if (spec.diskAttachments) {
      body.disk_attachments = {
        disk_attachment: spec.diskAttachments.map((a) => {
          const disk: Record<string, string> = { id: a.diskId };
          if (a.imageId !== undefined) disk.image_id = a.imageId;
          if (a.initialSize !== undefined) disk.initial_size = String(a.initialSize);
          return { disk };
        }),
      };
    }
    return this.engine.post(`/vms/${seg(vmId)}/snapshots`, zSnapshot, {
      body,
      query: { correlation_id: spec.correlationId },
      signal: opts.signal,
    });
  }

  /** Adds a snapshot and waits until it is `ok`. */
  async create(vmId: string, spec: AddSnapshotSpec, wait: WaitOptions = {}): Promise<Snapshot> {
    const snap = await this.add(vmId, spec, { signal: wait.signal });
    return this.waitOk(vmId, snap.id, wait);
  }

  /** Polls until `ok`; a 404 means creation failed and the engine rolled it back. */
  async waitOk(vmId: string, snapshotId: string, wait: WaitOptions = {}): Promise<Snapshot> {
    return poll(
      `snapshot ${snapshotId} to be ok`,
      async () => {
        let snap: Snapshot;
        try {
          snap = await this.get(vmId, snapshotId, { signal: wait.signal });
        } catch (e) {
          if (e instanceof EngineError && e.isNotFound)
            throw new EngineStateError(
              "snapshot",
              snapshotId,
              "removed",
              `snapshot ${snapshotId} of VM ${vmId} failed: the engine rolled it back`,
            );
          throw e;
        }
        if (snap.status === "ok") return { done: true, value: snap };
        if (snap.status === "locked") return { done: false, state: snap.status };
        throw new EngineStateError(
          "snapshot",
          snapshotId,
          snap.status,
          `snapshot ${snapshotId} of VM ${vmId} is ${snap.status}, expected ok`,
        );
      },
      { ...wait, defaultTimeoutMs: 30 * 60_000, defaultIntervalMs: this.engine.pollIntervalMs },
    );
  }

  /** Starts the removal (merge). Fails with 409 while a transfer or backup holds a disk; retried as such. */
  async remove(vmId: string, snapshotId: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.engine.remove(`/vms/${seg(vmId)}/snapshots/${seg(snapshotId)}`, opts);
  }

  /** Removes a snapshot and waits until it is gone. */
  async delete(vmId: string, snapshotId: string, wait: WaitOptions = {}): Promise<void> {
    await this.remove(vmId, snapshotId, { signal: wait.signal });
    await this.waitRemoved(vmId, snapshotId, wait);
  }

  /**
   * Polls until the snapshot is gone (404). Seeing it `ok` again after it was `locked` means the merge failed.
   */
  async waitRemoved(vmId: string, snapshotId: string, wait: WaitOptions = {}): Promise<void> {
    let sawLocked = false;
    await poll(
      `snapshot ${snapshotId} to be removed`,
      async () => {
        let snap: Snapshot;
        try {
          snap = await this.get(vmId, snapshotId, { signal: wait.signal });
        } catch (e) {
          if (e instanceof EngineError && e.isNotFound) return { done: true, value: undefined };
          throw e;
        }
        if (snap.status === "locked") sawLocked = true;
        else if (sawLocked)
          throw new EngineStateError(
            "snapshot",
            snapshotId,
            snap.status,
            `removing snapshot ${snapshotId} of VM ${vmId} failed: it is ${snap.status} again`,
          );
        return { done: false, state: snap.status };
      },
      { ...wait, defaultTimeoutMs: 2 * 60 * 60_000, defaultIntervalMs: this.engine.pollIntervalMs },
    );
  }
}
