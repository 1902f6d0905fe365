import type { DomainConfig } from "@lifeboat/domain";

/** How a worker runs durable jobs. Every worker of an installation should use the same values. */
export interface WorkerSettings {
  databaseUrl: string;
  /**
   * The job lease: a running job whose heartbeat is older than this belongs to a dead worker, and another
   * worker takes it over (cleans the engine up from the journal, then resumes or fails it). Default 60 s.
   */
  leaseMs: number;
  /** Heartbeat, progress write and cancel check of a running job. */
  heartbeatMs: number;
  /** How often each worker looks for jobs whose lease ran out. */
  sweepMs: number;
  /** Attempts of a job (the first run and resumptions after a dead worker) before it fails for good. */
  maxAttempts: number;
  /** Jobs working on the same engine at once, across all workers (LIFEBOAT_ENGINE_CONCURRENCY). */
  engineConcurrency: number;
  /** Durable jobs of each type this worker runs at once (more workers = more throughput). */
  jobsPerType: number;
  /**
   * Checkpoints of a VM left on the engine after a backup through the backup API (LIFEBOAT_CHECKPOINT_CHAIN):
   * older ones, and invalid ones, are removed once the restore point is recorded. At least 1.
   */
  checkpointChain: number;
  /** The process's configuration (sealing key, repository, notifications), built at its edge. */
  config: DomainConfig;
}

export interface WorkerSettingsInput {
  databaseUrl: string;
  config: DomainConfig;
  /** LIFEBOAT_JOB_LEASE_SECONDS; default 60. */
  leaseSeconds?: number;
  maxAttempts?: number;
  /** LIFEBOAT_ENGINE_CONCURRENCY; default 2. */
  engineConcurrency?: number;
  /** Default 2. */
  jobsPerType?: number;
  /** LIFEBOAT_CHECKPOINT_CHAIN; default 7. */
  checkpointChain?: number;
}

export function workerSettings(input: WorkerSettingsInput): WorkerSettings {
  const leaseSeconds = input.leaseSeconds ?? 60;
  const leaseMs = Math.max(3000, Math.round(leaseSeconds * 1000));
  return {
    databaseUrl: input.databaseUrl,
    leaseMs,
    heartbeatMs: 1000,
    sweepMs: Math.min(15_000, Math.max(1000, Math.round(leaseMs / 3))),
    maxAttempts: input.maxAttempts ?? 3,
    engineConcurrency: input.engineConcurrency ?? 2,
    jobsPerType: Math.max(1, input.jobsPerType ?? 2),
    checkpointChain: Math.max(1, Math.floor(input.checkpointChain ?? 7)),
    config: input.config,
  };
}
