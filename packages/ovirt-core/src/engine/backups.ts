import { randomUUID } from "node:crypto";
import type { BackupMode, BackupPhase, CheckpointState, Loose } from "@lifeboat/ovirt-protocol";
import { z } from "zod";
import { poll, type WaitOptions } from "../wait";
import { correlationIdOf, type EngineClient, seg } from "./client";
import { type Disk, diskFields, toDisk } from "./disks";
import { EngineError, EngineStateError } from "./errors";
import { type Ref, zCollection, zDate, zEnum, zRef } from "./json";

/** A VM backup of the engine's backup API (ref §3.8). */
export interface VmBackup {
  id: string;
  phase: Loose<BackupPhase>;
  fromCheckpointId?: string;
  /** The checkpoint this backup creates: the next incremental's `fromCheckpointId`. */
  toCheckpointId?: string;
  description?: string;
  creationDate?: Date;
  modificationDate?: Date;
  vm?: Ref;
  host?: Ref;
  /** Hybrid backups (cluster level ≥ 4.7): the VM snapshot the disks are read from. */
  snapshot?: Ref;
}

const zBackup = z
  .object({
    id: z.string().min(1),
    phase: zEnum.optional(),
    from_checkpoint_id: z.string().optional(),
    to_checkpoint_id: z.string().optional(),
    description: z.string().optional(),
    creation_date: zDate.optional(),
    modification_date: zDate.optional(),
    vm: zRef.optional(),
    host: zRef.optional(),
    snapshot: zRef.optional(),
  })
  .transform(
    (b): VmBackup => ({
      id: b.id,
      phase: b.phase ?? "initializing",
      fromCheckpointId: b.from_checkpoint_id || undefined,
      toCheckpointId: b.to_checkpoint_id || undefined,
      description: b.description,
      creationDate: b.creation_date,
      modificationDate: b.modification_date,
      vm: b.vm,
      host: b.host,
      snapshot: b.snapshot,
    }),
  );
const zBackups = zCollection("backup", zBackup);

/** A disk of a backup with how the engine backs it up: `incremental` only where a bitmap of the checkpoint exists. */
export interface BackupDisk extends Disk {
  backupMode: Loose<BackupMode>;
}

const zBackupDisk = z
  .object({ ...diskFields, backup_mode: zEnum.optional() })
  // Engines that answer without backup_mode took full backups only.
  .transform((d): BackupDisk => ({ ...toDisk(d), backupMode: d.backup_mode ?? "full" }));
const zBackupDisks = zCollection("disk", zBackupDisk);

export interface StartBackupSpec {
  /** Disk ids to back up. */
  disks: string[];
  /** Incremental from this checkpoint; omitted → full. */
  fromCheckpointId?: string;
  /** Choose the backup id (persist it before the call: a later run can then find and finish the backup). */
  id?: string;
  description?: string;
  /** Fail when the guest cannot be frozen (4.4.4+; engine default false). */
  requireConsistency?: boolean;
  /** Force the live (scratch disk) mode on cluster level ≥ 4.7 instead of the hybrid snapshot mode. */
  legacy?: boolean;
  correlationId?: string;
}

/** How a finalized backup was confirmed: `succeeded`, or gone (404) on engines before 4.4.7. */
export interface BackupOutcome {
  id: string;
  confirmedBy: "phase" | "removed";
  toCheckpointId?: string;
}

/** A backup that failed or vanished before it was ready; `state` is its phase or "removed". */
export class BackupFailedError extends EngineStateError {
  constructor(id: string, state: string, message: string) {
    super("backup", id, state, message);
    this.name = "BackupFailedError";
  }
}

const STARTING = new Set(["initializing", "starting", "unknown"]);

/** VM backups: `/vms/{vm}/backups` (ref §4.7). */
export class VmBackups {
  /** The correlation id each backup was started under: the key to the engine's log of why it failed. */
  private readonly correlation = new Map<string, string>();

  constructor(private readonly engine: EngineClient) {}

  /** `POST /vms/{vm}/backups`; the answer is `initializing` — wait with waitReady. */
  async start(vmId: string, spec: StartBackupSpec, opts: { signal?: AbortSignal } = {}): Promise<VmBackup> {
    if (spec.disks.length === 0) throw new Error("a backup needs at least one disk");
    const body: Record<string, unknown> = { disks: { disk: spec.disks.map((id) => ({ id })) } };
    if (spec.fromCheckpointId !== undefined) body.from_checkpoint_id = spec.fromCheckpointId;
    if (spec.id !== undefined) body.id = spec.id;
    if (spec.description !== undefined) body.description = spec.description;
    const correlationId = correlationIdOf(spec.correlationId ?? `lifeboat-backup-${randomUUID()}`);
    const b = await this.engine.post(`/vms/${seg(vmId)}/backups`, zBackup, {
      body,
      query: {
        require_consistency:
          spec.requireConsistency === undefined ? undefined : String(spec.requireConsistency),
        legacy: spec.legacy ? "true" : undefined,
        correlation_id: correlationId,
      },
      signal: opts.signal,
    });
    this.correlation.set(b.id, correlationId);
    return b;
  }

  async get(vmId: string, id: string, opts: { signal?: AbortSignal } = {}): Promise<VmBackup> {
    return this.engine.get(`/vms/${seg(vmId)}/backups/${seg(id)}`, zBackup, opts);
  }

  async list(vmId: string, opts: { signal?: AbortSignal } = {}): Promise<VmBackup[]> {
    return this.engine.get(`/vms/${seg(vmId)}/backups`, zBackups, opts);
  }

  /** The backup's disks with their `backupMode` (a disk may be `full` within an incremental backup). */
  async disks(vmId: string, id: string, opts: { signal?: AbortSignal } = {}): Promise<BackupDisk[]> {
    return this.engine.get(`/vms/${seg(vmId)}/backups/${seg(id)}/disks`, zBackupDisks, opts);
  }

  /** Polls until `ready`. `failed` or a 404 fail with the engine's own words where it logged any. */
  async waitReady(vmId: string, id: string, wait: WaitOptions = {}): Promise<VmBackup> {
    return poll(
      `backup ${id} of VM ${vmId} to be ready`,
      async () => {
        let b: VmBackup;
        try {
          b = await this.get(vmId, id, { signal: wait.signal });
        } catch (e) {
          if (e instanceof EngineError && e.isNotFound)
            throw await this.failed(
              id,
              "removed",
              `backup ${id} of VM ${vmId} was removed before it was ready`,
            );
          throw e;
        }
        if (b.phase === "ready") return { done: true, value: b };
        if (STARTING.has(b.phase)) return { done: false, state: b.phase };
        throw await this.failed(
          id,
          b.phase,
          `backup ${id} of VM ${vmId} did not become ready: phase ${b.phase}`,
        );
      },
      { ...wait, defaultTimeoutMs: 30 * 60_000, defaultIntervalMs: this.engine.pollIntervalMs },
    );
  }

  /**
   * Asks the engine to end the backup (it removes a hybrid backup's snapshot, or the scratch disks). The engine
   * refuses (409) while an image transfer of the backup is still open: finalize or cancel those first. Retried on
   * the engine's transient conflicts.
   */
  async finalize(vmId: string, id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.engine.action(`/vms/${seg(vmId)}/backups/${seg(id)}`, "finalize", {
      idempotent: true,
      signal: opts.signal,
    });
  }

  /**
   * After finalize: polls until `succeeded`. Engines before 4.4.7 delete the backup instead (404), which counts
   * as done; `failed` is an error in the engine's words.
   */
  async waitFinalized(vmId: string, id: string, wait: WaitOptions = {}): Promise<BackupOutcome> {
    let toCheckpointId: string | undefined;
    return poll<BackupOutcome>(
      `backup ${id} of VM ${vmId} to be finalized`,
      async () => {
        let b: VmBackup;
        try {
          b = await this.get(vmId, id, { signal: wait.signal });
        } catch (e) {
          if (!(e instanceof EngineError && e.isNotFound)) throw e;
          this.correlation.delete(id);
          return { done: true, value: { id, confirmedBy: "removed", toCheckpointId } };
        }
        toCheckpointId = b.toCheckpointId ?? toCheckpointId;
        if (b.phase === "succeeded") {
          this.correlation.delete(id);
          return { done: true, value: { id, confirmedBy: "phase", toCheckpointId } };
        }
        if (b.phase === "failed")
          throw await this.failed(id, b.phase, `backup ${id} of VM ${vmId} failed while finalizing`);
        return { done: false, state: b.phase };
      },
      { ...wait, defaultTimeoutMs: 30 * 60_000, defaultIntervalMs: this.engine.pollIntervalMs },
    );
  }

  /** finalize + waitFinalized; the checkpoint is read before, as an old engine deletes the entity. */
  async finalizeAndWait(vmId: string, id: string, wait: WaitOptions = {}): Promise<BackupOutcome> {
    let toCheckpointId: string | undefined;
    try {
      toCheckpointId = (await this.get(vmId, id, { signal: wait.signal })).toCheckpointId;
    } catch (e) {
      if (!(e instanceof EngineError && e.isNotFound)) throw e;
    }
    await this.finalize(vmId, id, { signal: wait.signal });
    const out = await this.waitFinalized(vmId, id, wait);
    return { ...out, toCheckpointId: out.toCheckpointId ?? toCheckpointId };
  }

  private async failed(id: string, state: string, message: string): Promise<BackupFailedError> {
    const cid = this.correlation.get(id);
    this.correlation.delete(id);
    if (cid === undefined) return new BackupFailedError(id, state, message);
    try {
      const problem = await this.engine.events.latestProblem(cid, { signal: AbortSignal.timeout(10_000) });
      if (problem?.description)
        return new BackupFailedError(id, state, `${message}; the engine logged: ${problem.description}`);
    } catch {
      // The explanation is a courtesy: the failure stands without it.
    }
    return new BackupFailedError(id, state, message);
  }
}

/** A VM checkpoint (ref §3.9): the point an incremental backup starts from. */
export interface Checkpoint {
  id: string;
  /** Absent for the root (oldest) checkpoint. */
  parentId?: string;
  creationDate?: Date;
  /** `invalid` (4.4.7+) after a snapshot restore, a detached disk or lost bitmaps: take a full backup. */
  state: Loose<CheckpointState>;
  description?: string;
  vm?: Ref;
}

const zCheckpoint = z
  .object({
    id: z.string().min(1),
    parent_id: z.string().optional(),
    creation_date: zDate.optional(),
    state: zEnum.optional(),
    description: z.string().optional(),
    vm: zRef.optional(),
  })
  .transform(
    (c): Checkpoint => ({
      id: c.id,
      parentId: c.parent_id || undefined,
      creationDate: c.creation_date,
      // Engines before 4.4.7 have no state: every checkpoint they list was created.
      state: c.state ?? "created",
      description: c.description,
      vm: c.vm,
    }),
  );
const zCheckpoints = zCollection("checkpoint", zCheckpoint);

/** VM checkpoints: `/vms/{vm}/checkpoints`. */
export class Checkpoints {
  constructor(private readonly engine: EngineClient) {}

  /** Oldest first, following `parentId` from the root (the engine's own order is not promised). */
  async list(vmId: string, opts: { signal?: AbortSignal } = {}): Promise<Checkpoint[]> {
    return orderCheckpoints(await this.engine.get(`/vms/${seg(vmId)}/checkpoints`, zCheckpoints, opts));
  }

  async get(vmId: string, id: string, opts: { signal?: AbortSignal } = {}): Promise<Checkpoint> {
    return this.engine.get(`/vms/${seg(vmId)}/checkpoints/${seg(id)}`, zCheckpoint, opts);
  }

  /** Removes a checkpoint and its bitmaps; the engine allows only the root (oldest) one (409 otherwise). */
  async remove(vmId: string, id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.engine.remove(`/vms/${seg(vmId)}/checkpoints/${seg(id)}`, opts);
  }
}

/** Root first, then each child; checkpoints outside the chain (a broken parent link) last, by date. */
export function orderCheckpoints(list: Checkpoint[]): Checkpoint[] {
  const byDate = [...list].sort(
    (a, b) => (a.creationDate?.getTime() ?? 0) - (b.creationDate?.getTime() ?? 0),
  );
  const ids = new Set(list.map((c) => c.id));
  const out: Checkpoint[] = [];
  let next = byDate.find((c) => !c.parentId || !ids.has(c.parentId));
  while (next && !out.includes(next)) {
    out.push(next);
    const id = next.id;
    next = byDate.find((c) => c.parentId === id);
  }
  for (const c of byDate) if (!out.includes(c)) out.push(c);
  return out;
}
