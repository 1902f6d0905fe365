import type { BackupPhase, ImageTransferPhase } from "@lifeboat/ovirt-protocol";
import { z } from "zod";

/**
 * Faults a test (or the admin endpoint) switches on at runtime. Operation names are the engine and daemon
 * operations, e.g. `vms.get`, `snapshots.add`, `snapshots.remove`, `imagetransfers.add`,
 * `imagetransfers.finalize`, `sso.token`, `images.get`, `images.put`, `images.patch`, `images.options`,
 * `images.extents`, `backups.add`, `backups.finalize`, `checkpoints.remove`; and the asynchronous steps
 * `snapshots.add.async` (creation fails, the snapshot vanishes), `snapshots.remove.async` (the merge fails,
 * the snapshot is `ok` again), `disks.add.async` (the new disk ends illegal), `vms.add.async` (an
 * asynchronous, pre-4.5.1 OVF import fails and the VM vanishes), `imagetransfers.init` (preparing the image
 * on the host fails: `finished_failure`), `imagetransfers.ticket` (the host refuses the ticket: upload
 * `paused_system`, download `cancelled_system`), `imagetransfers.verify` (upload verification fails at
 * finalize), `imagetransfers.finalize.async` (finalizing fails: `paused_system`, the disk left illegal)
 * and `backups.snapshot.remove` (a hybrid backup's snapshot is not removed at finalize and stays behind).
 */
export const faultSpecSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("fail"),
    op: z.string().min(1),
    status: z.number().int().min(400).max(599),
    /** How many times it fires; default 1 without a probability, unlimited with one. */
    times: z.number().int().positive().optional(),
    probability: z.number().min(0).max(1).optional(),
    detail: z.string().optional(),
  }),
  z.object({
    kind: z.literal("drop"),
    method: z.enum(["GET", "PUT"]),
    /** The connection is destroyed after this many body bytes were sent (GET) or received (PUT). */
    afterBytes: z.number().int().min(0),
    times: z.number().int().positive().optional(),
  }),
  z.object({
    kind: z.literal("latency"),
    ms: z.number().int().min(0).max(600_000),
    target: z.enum(["engine", "imageio", "all"]).optional(),
    op: z.string().optional(),
    times: z.number().int().positive().optional(),
  }),
  z.object({
    kind: z.literal("hold"),
    /** The transfer (or, with `backupId`, the VM backup) stays in this phase until the fault is removed. */
    phase: z.string(),
    transferId: z.string().optional(),
    /** Holds a VM backup instead of a transfer; `"*"` = any backup. */
    backupId: z.string().optional(),
    /**
     * Holds a snapshot instead (phase `locked`): its creation or removal does not end, as with many or big
     * disks; `"*"` = any snapshot.
     */
    snapshotId: z.string().optional(),
  }),
  z.object({
    kind: z.literal("checkpoint"),
    /**
     * invalid: the checkpoint (default: the VM's newest) turns `invalid`; bitmap_lost: the disks' bitmap of that
     * checkpoint vanishes (their next incremental backup is `full`); host_crash: every bitmap of the VM's disks
     * is lost and all its checkpoints turn invalid. Takes effect when the engine next looks at checkpoints.
     * removed: the checkpoint an incremental backup starts from (or `checkpointId`) is gone, bitmaps and all, by
     * the time the backup starts — removed behind the client's back after it looked (another tool's purge, an
     * engine database restored from an older dump): that start is answered 404 "Entity not found".
     */
    effect: z.enum(["invalid", "bitmap_lost", "host_crash", "removed"]),
    /** VM id or name; default every VM. */
    vmId: z.string().optional(),
    diskId: z.string().optional(),
    checkpointId: z.string().optional(),
  }),
  z.object({ kind: z.literal("unreachable") }),
  z.object({
    kind: z.literal("options"),
    /**
     * How `OPTIONS /images/<ticket>` answers until the fault is removed: 405 as a daemon from before OPTIONS,
     * 204 (no body) as an old proxy, or 200 with these features and connection limits (e.g. `features: []`
     * of an old daemon, `maxWriters: 1` of the file backend).
     */
    status: z.union([z.literal(200), z.literal(204), z.literal(405)]).optional(),
    features: z.array(z.string()).optional(),
    maxReaders: z.number().int().positive().optional(),
    maxWriters: z.number().int().positive().optional(),
    /** Only this ticket; default every ticket. */
    ticketId: z.string().optional(),
  }),
]);

export type FaultSpec = z.infer<typeof faultSpecSchema>;
export type ActiveFault = FaultSpec & { id: string; fired: number };

export interface FaultHandle {
  id: string;
  remove(): void;
}

export class FaultInjector {
  private readonly faults = new Map<string, ActiveFault>();
  private seq = 0;

  add(spec: FaultSpec): FaultHandle {
    const parsed = faultSpecSchema.parse(spec);
    const id = `f${++this.seq}`;
    this.faults.set(id, { ...parsed, id, fired: 0 });
    return { id, remove: () => this.remove(id) };
  }

  remove(id: string): boolean {
    return this.faults.delete(id);
  }

  clear(): void {
    this.faults.clear();
  }

  list(): ActiveFault[] {
    return [...this.faults.values()].map((f) => ({ ...f }));
  }

  /** Answer `status` for operation `op` (once by default, or with a probability). */
  failOperation(
    op: string,
    opts: { status: number; times?: number; probability?: number; detail?: string },
  ): FaultHandle {
    return this.add({ kind: "fail", op, ...opts });
  }

  /** Destroy the connection of the next GET or PUT on the daemon after `afterBytes` bytes. */
  dropConnection(opts: { method: "GET" | "PUT"; afterBytes: number; times?: number }): FaultHandle {
    return this.add({ kind: "drop", ...opts });
  }

  addLatency(opts: {
    ms: number;
    target?: "engine" | "imageio" | "all";
    op?: string;
    times?: number;
  }): FaultHandle {
    return this.add({ kind: "latency", ...opts });
  }

  holdTransfer(opts: { phase: ImageTransferPhase; transferId?: string }): FaultHandle {
    return this.add({ kind: "hold", ...opts });
  }

  /** A VM backup stays in `phase` (e.g. `finalizing`, as after an engine restart) until the fault is removed. */
  holdBackup(opts: { phase: BackupPhase; backupId?: string }): FaultHandle {
    return this.add({ kind: "hold", phase: opts.phase, backupId: opts.backupId ?? "*" });
  }

  /** A snapshot stays `locked` (creation or removal not ending) until the fault is removed. */
  holdSnapshot(opts: { snapshotId?: string } = {}): FaultHandle {
    return this.add({ kind: "hold", phase: "locked", snapshotId: opts.snapshotId ?? "*" });
  }

  /** Checkpoint damage as the field sees it (field-failures row 6); see the `checkpoint` fault kind. */
  damageCheckpoint(opts: {
    effect: "invalid" | "bitmap_lost" | "host_crash" | "removed";
    vmId?: string;
    diskId?: string;
    checkpointId?: string;
  }): FaultHandle {
    return this.add({ kind: "checkpoint", ...opts });
  }

  /** transfer_url points at a port nobody listens on, so clients must use proxy_url. */
  makeTransferUrlUnreachable(): FaultHandle {
    return this.add({ kind: "unreachable" });
  }

  /** Answer the daemon's OPTIONS as an older daemon or proxy would, or with other features and limits. */
  answerOptionsAs(opts: {
    status?: 200 | 204 | 405;
    features?: string[];
    maxReaders?: number;
    maxWriters?: number;
    ticketId?: string;
  }): FaultHandle {
    return this.add({ kind: "options", ...opts });
  }

  /** The OPTIONS answer a test asked for on this ticket, if any (the latest one added wins). */
  optionsFor(ticketId: string): Extract<FaultSpec, { kind: "options" }> | null {
    let found: Extract<FaultSpec, { kind: "options" }> | null = null;
    for (const f of this.faults.values())
      if (f.kind === "options" && (!f.ticketId || f.ticketId === ticketId)) found = f;
    return found;
  }

  /** fail: once unless a probability is set; drop: once; latency: until removed; unless `times` says. */
  private limitOf(f: ActiveFault): number | undefined {
    if (f.kind === "fail") return f.times ?? (f.probability === undefined ? 1 : undefined);
    if (f.kind === "drop") return f.times ?? 1;
    if (f.kind === "latency") return f.times;
    return undefined;
  }

  private consume(f: ActiveFault): void {
    f.fired++;
    const limit = this.limitOf(f);
    if (limit !== undefined && f.fired >= limit) this.faults.delete(f.id);
  }

  /** The injected failure for this operation, if one fires now. */
  takeFailure(op: string): { status: number; detail?: string } | null {
    for (const f of this.faults.values()) {
      if (f.kind !== "fail" || f.op !== op) continue;
      if (f.probability !== undefined && Math.random() >= f.probability) continue;
      this.consume(f);
      return { status: f.status, detail: f.detail };
    }
    return null;
  }

  latencyFor(target: "engine" | "imageio", op: string): number {
    let ms = 0;
    for (const f of this.faults.values()) {
      if (f.kind !== "latency") continue;
      if (f.target && f.target !== "all" && f.target !== target) continue;
      if (f.op && f.op !== op) continue;
      ms += f.ms;
      this.consume(f);
    }
    return ms;
  }

  takeDrop(method: "GET" | "PUT"): number | null {
    for (const f of this.faults.values()) {
      if (f.kind !== "drop" || f.method !== method) continue;
      this.consume(f);
      return f.afterBytes;
    }
    return null;
  }

  isHeld(transferId: string, phase: ImageTransferPhase): boolean {
    for (const f of this.faults.values()) {
      if (f.kind !== "hold" || f.backupId !== undefined || f.snapshotId !== undefined) continue;
      if (f.phase === phase && (!f.transferId || f.transferId === transferId)) return true;
    }
    return false;
  }

  isBackupHeld(backupId: string, phase: BackupPhase): boolean {
    for (const f of this.faults.values()) {
      if (f.kind !== "hold" || f.backupId === undefined) continue;
      if (f.phase === phase && (f.backupId === "*" || f.backupId === backupId)) return true;
    }
    return false;
  }

  isSnapshotHeld(snapshotId: string): boolean {
    for (const f of this.faults.values())
      if (f.kind === "hold" && (f.snapshotId === "*" || f.snapshotId === snapshotId)) return true;
    return false;
  }

  /** The pending checkpoint faults, each consumed once (`removed` ones wait for a backup start: takeCheckpointRemoval). */
  takeCheckpointFaults(): Array<Extract<FaultSpec, { kind: "checkpoint" }>> {
    const out: Array<Extract<FaultSpec, { kind: "checkpoint" }>> = [];
    for (const f of this.faults.values()) {
      if (f.kind !== "checkpoint" || f.effect === "removed") continue;
      out.push(f);
      this.faults.delete(f.id);
    }
    return out;
  }

  /** A pending `removed` checkpoint fault that matches an incremental start from `checkpointId` of this VM, consumed. */
  takeCheckpointRemoval(vm: { id: string; name: string }, checkpointId: string): boolean {
    for (const f of this.faults.values()) {
      if (f.kind !== "checkpoint" || f.effect !== "removed") continue;
      if (f.vmId && f.vmId !== vm.id && f.vmId !== vm.name) continue;
      if (f.checkpointId && f.checkpointId !== checkpointId) continue;
      this.faults.delete(f.id);
      return true;
    }
    return false;
  }

  get transferUrlUnreachable(): boolean {
    for (const f of this.faults.values()) if (f.kind === "unreachable") return true;
    return false;
  }
}
