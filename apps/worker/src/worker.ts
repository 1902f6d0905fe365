import { databaseUnavailable, getDb } from "@lifeboat/db";
import { recordJobOutcome } from "@lifeboat/domain";
import {
  createJobQueue,
  DURABLE_JOB_TYPES,
  getBoss,
  type JobType,
  jobInputs,
  type QueuedJob,
  runJob,
  sweepStaleJobs,
} from "@lifeboat/jobs";
import { approvalsExpire } from "./handlers/approvals-expire";
import { backupVm } from "./handlers/backup-vm";
import { repositoryGc } from "./handlers/gc";
import { inventoryRefresh } from "./handlers/inventory-refresh";
import { policyTick } from "./handlers/policy-tick";
import { afterJob } from "./handlers/policy-tick-followups";
import { pruneVmHandler, restorePointDelete } from "./handlers/prune";
import { restoreDisk } from "./handlers/restore-disk";
import { restoreVm } from "./handlers/restore-vm";
import { systemEcho } from "./handlers/system-echo";
import { verify } from "./handlers/verify";
import { startWorkerHeartbeat } from "./heartbeat";
import type { JobHandler } from "./job-context";
import { type WorkerSettingsInput, workerSettings } from "./jobs/settings";

const handlers: { [T in JobType]: JobHandler<T> } = {
  "system.echo": systemEcho,
  "approvals.expire": approvalsExpire,
  "inventory.refresh": inventoryRefresh,
  "backup.vm": backupVm,
  "restore.vm": restoreVm,
  "restore.disk": restoreDisk,
  verify,
  "policy.tick": policyTick,
  "prune.vm": pruneVmHandler,
  "restore-point.delete": restorePointDelete,
  "repository.gc": repositoryGc,
};

/** Periodic maintenance (cron, UTC): pg-boss sends these once per tick for all workers, without a catalog row. */
const schedules: Partial<Record<JobType, string>> = {
  "approvals.expire": "* * * * *",
  "inventory.refresh": "*/5 * * * *",
  "policy.tick": "* * * * *",
  "repository.gc": "30 3 * * *",
};

/**
 * pg-boss gives up waiting for a handler after the queue's expiry and fails the delivery while the handler still
 * runs. Durable jobs are leased through their own heartbeat (see @lifeboat/jobs runJob), so their deliveries may take as long as
 * pg-boss allows (under 24 h).
 */
const DURABLE_DELIVERY_SECONDS = 23 * 3600;

export interface Worker {
  stop(): Promise<void>;
}

/** Consumes every job type from pg-boss on `databaseUrl`. Stateless: run as many as you like. */
export async function startWorker(
  opts: WorkerSettingsInput & {
    pollingIntervalSeconds?: number;
    /** How often the worker renews its worker_heartbeat row (default 15 s). */
    heartbeatMs?: number;
  },
): Promise<Worker> {
  const settings = workerSettings(opts);
  const db = getDb(opts.databaseUrl);
  const queue = createJobQueue(db, opts.databaseUrl);
  const boss = await getBoss(opts.databaseUrl, "worker");
  const abort = new AbortController();
  for (const type of DURABLE_JOB_TYPES)
    await boss.updateQueue(type, { name: type, expireInSeconds: DURABLE_DELIVERY_SECONDS });
  const requeue = async (type: JobType, jobId: string, later?: { delayMs?: number }) => {
    const data: QueuedJob = { jobId };
    await boss.send(type, data, later?.delayMs ? { startAfter: Math.ceil(later.delayMs / 1000) } : {});
  };
  // One poller per concurrent job: durable jobs (long, mostly waiting on the engine and the network) run
  // `jobsPerType` at a time per type; the engine slots bound what reaches each engine.
  const pollers = (type: JobType) =>
    (DURABLE_JOB_TYPES as readonly JobType[]).includes(type) ? settings.jobsPerType : 1;
  for (const type of Object.keys(handlers) as JobType[]) {
    for (let i = 0; i < pollers(type); i++)
      await boss.work<QueuedJob>(
        type,
        { pollingIntervalSeconds: opts.pollingIntervalSeconds ?? 1, batchSize: 1 },
        async ([job]) => {
          if (!job) return;
          if (!job.data?.jobId && schedules[type]) {
            const handler = handlers[type] as JobHandler<typeof type>;
            await handler({
              jobId: job.id,
              input: jobInputs[type].parse(job.data ?? {}),
              db,
              queue,
              signal: abort.signal,
              settings,
            });
            return;
          }
          const handler = handlers[type] as JobHandler<typeof type>;
          await runJob(
            db,
            type,
            job.data.jobId,
            ({ jobId, input, run, complete }) =>
              handler({ jobId, input, db, queue, signal: run.signal, run, settings, complete }),
            abort.signal,
            {
              leaseMs: settings.leaseMs,
              heartbeatMs: settings.heartbeatMs,
              requeue,
              // A catalog database restart stops the attempt, not the job: it is tried again with back-off.
              transient: databaseUnavailable,
              onFinished: (finished) => recordJobOutcome(db, finished),
            },
          );
          await afterJob(db, queue, settings.config.notify, job.data.jobId);
        },
      );
  }
  for (const [type, cron] of Object.entries(schedules)) await boss.schedule(type, cron, {}, { tz: "UTC" });
  // A fresh start (new install, new engine, worker back after a while) should not wait for the next 5-minute tick.
  await boss.send("inventory.refresh", {}, { singletonKey: "inventory.refresh.start" });
  // Jobs of workers that died come back through their lease (every worker looks; one wins each job).
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweepStaleJobs(db, settings.leaseMs, requeue)
      .catch((e) =>
        console.error("[worker] looking for stale jobs failed", e instanceof Error ? e.message : e),
      )
      .finally(() => {
        sweeping = false;
      });
  }, settings.sweepMs);
  const heartbeat = await startWorkerHeartbeat(db, opts.heartbeatMs);
  return {
    async stop() {
      clearInterval(sweeper);
      abort.abort();
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
      await heartbeat.stop();
    },
  };
}
