import { z } from "zod";

const storageDomainRef = z
  .object({ id: z.string().min(1).max(100).optional(), name: z.string().min(1).max(200).optional() })
  .refine((s) => s.id !== undefined || s.name !== undefined, "give the storage domain's id or name");
const clusterRef = z
  .object({ id: z.string().min(1).max(100).optional(), name: z.string().min(1).max(200).optional() })
  .refine((c) => c.id !== undefined || c.name !== undefined, "give the cluster's id or name");

/**
 * Every background job type, with the input the API enqueues and the worker reads. The job's durable row
 * (table `job`) is what users see; pg-boss only carries `{ jobId }`. The row's engineId, vmId (catalog VM) and
 * restorePointId say what a job works on; its input says how.
 */
export const jobInputs = {
  /** Diagnostics: proves API → queue → worker → database end to end. */
  "system.echo": z.object({ message: z.string().max(200) }),
  /** Maintenance, every minute: expires approval requests past their deadline (no catalog row). */
  "approvals.expire": z.object({}),
  /**
   * Maintenance, every 5 minutes and at worker start: reads every enabled engine's VM list into the inventory
   * (no catalog row; `vms.refresh` does the same on demand).
   */
  "inventory.refresh": z.object({ engineId: z.string().min(1).max(100).optional() }),
  /** One backup of the row's VM into the repository; one restore point on success. */
  "backup.vm": z.object({
    /**
     * auto: the engine's backup API where it offers incremental backups (incremental from the VM's newest point
     * with a checkpoint, else full), else the snapshot chain; full / incremental: the backup API; snapshot-chain.
     */
    mode: z.enum(["auto", "full", "incremental", "snapshot-chain"]).default("auto"),
    description: z.string().max(2000).default(""),
    tags: z.array(z.string().min(1).max(100)).max(50).default([]),
    /** Keep the temporary snapshot on the engine (default: remove it, merging it back); snapshot chain only. */
    keepSnapshot: z.boolean().default(false),
  }),
  /** The row's restore point as a new VM (or over an existing one, once that was approved). */
  "restore.vm": z.object({
    /** The engine to restore to (absent in jobs queued before restores could cross engines: the point's own). */
    engineId: z.string().min(1).max(100).optional(),
    name: z.string().min(1).max(255),
    cluster: clusterRef.optional(),
    storageDomain: storageDomainRef.optional(),
    /** auto: new ids when the original VM or one of its disks still exists, else the original ids. */
    identity: z.enum(["auto", "new", "original"]).default("auto"),
    /**
     * An approved restore over an existing VM: this engine VM (id, and name as it was when approved) is removed,
     * with its disks, after the restore point verified and before the restore starts.
     */
    replaceVm: z.object({ id: z.string().min(1).max(100), name: z.string().max(255) }).optional(),
    approvalRequestId: z.string().optional(),
  }),
  /** One disk of the row's restore point as a new floating disk. */
  "restore.disk": z.object({
    /** The engine to restore to (absent: the restore point's own). */
    engineId: z.string().min(1).max(100).optional(),
    /** The oVirt disk id in the restore point. */
    diskId: z.string().min(1).max(100),
    alias: z.string().min(1).max(255),
    storageDomain: storageDomainRef.optional(),
    format: z.enum(["cow", "raw"]).default("cow"),
    approvalRequestId: z.string().optional(),
  }),
  /** Re-reads and re-hashes the chunks of the row's restore point, or of the whole repository without one. */
  verify: z.object({}),
  /** Maintenance, every minute: starts the policy runs that are due, records missed ones (no catalog row). */
  "policy.tick": z.object({}),
  /** Applies the row's policy's retention to the restore points it made of the row's VM. */
  "prune.vm": z.object({ policyId: z.string().min(1), vmId: z.string().min(1) }),
  /** Deletes the row's restore point (an approved request of kind restore-point.delete). */
  "restore-point.delete": z.object({ restorePointId: z.string().min(1) }),
  /**
   * Site-wide garbage collection of the repository (daily, or on demand): chunks and layers no restore point
   * references, older than the grace period; then records a RepositoryUsage sample.
   */
  "repository.gc": z.object({
    graceMinutes: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 60)
      .optional(),
  }),
} as const;

export type JobType = keyof typeof jobInputs;
export type JobInput<T extends JobType> = z.input<(typeof jobInputs)[T]>;
export type ParsedJobInput<T extends JobType> = z.output<(typeof jobInputs)[T]>;
export const JOB_TYPES = Object.keys(jobInputs) as JobType[];

/** Job types that talk to an engine: they take one of its concurrency slots and journal what they create. */
export const ENGINE_JOB_TYPES = ["backup.vm", "restore.vm", "restore.disk"] as const satisfies JobType[];

/** Job types that keep a heartbeat and come back on another worker when theirs dies. */
export const DURABLE_JOB_TYPES = [...ENGINE_JOB_TYPES, "verify"] as const satisfies JobType[];

/** What pg-boss carries. */
export interface QueuedJob {
  jobId: string;
}
