import { getBoss, type JobType, jobInputs, type QueuedJob } from "@lifeboat/api";
import { getDb } from "@lifeboat/db";
import { approvalsExpire } from "./handlers/approvals-expire";
import { systemEcho } from "./handlers/system-echo";
import { type JobHandler, runJob } from "./run-job";

const handlers: { [T in JobType]: JobHandler<T> } = {
  "system.echo": systemEcho,
  "approvals.expire": approvalsExpire,
};

/** Periodic maintenance (cron, UTC): pg-boss sends these once per tick for all workers, without a catalog row. */
const schedules: Partial<Record<JobType, string>> = {
  "approvals.expire": "* * * * *",
};

export interface Worker {
  stop(): Promise<void>;
}

/** Consumes every job type from pg-boss on `databaseUrl`. Stateless: run as many as you like. */
export async function startWorker(opts: {
  databaseUrl: string;
  pollingIntervalSeconds?: number;
}): Promise<Worker> {
  const db = getDb(opts.databaseUrl);
  const boss = await getBoss(opts.databaseUrl, "worker");
  const abort = new AbortController();
  for (const type of Object.keys(handlers) as JobType[]) {
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
            signal: abort.signal,
          });
          return;
        }
        await runJob(db, type, job.data.jobId, handlers[type] as JobHandler<typeof type>, abort.signal);
      },
    );
  }
  for (const [type, cron] of Object.entries(schedules)) await boss.schedule(type, cron, {}, { tz: "UTC" });
  return {
    async stop() {
      abort.abort();
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    },
  };
}
