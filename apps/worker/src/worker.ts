import { getBoss, type JobType, type QueuedJob } from "@lifeboat/api";
import { getDb } from "@lifeboat/db";
import { systemEcho } from "./handlers/system-echo";
import { type JobHandler, runJob } from "./run-job";

const handlers: { [T in JobType]: JobHandler<T> } = {
  "system.echo": systemEcho,
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
        await runJob(db, type, job.data.jobId, handlers[type] as JobHandler<typeof type>, abort.signal);
      },
    );
  }
  return {
    async stop() {
      abort.abort();
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    },
  };
}
