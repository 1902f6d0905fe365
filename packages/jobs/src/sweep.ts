import type { Db } from "@lifeboat/db";
import type { JobType } from "./job-types";

/**
 * The job lease: finds jobs whose worker stopped beating (running, heartbeat older than the lease) — and jobs
 * handed back to the queue whose delivery got lost — marks them queued again (one sweeper wins each row) and
 * sends them to pg-boss, so that any worker resumes them. Run by every worker every few seconds.
 */
export async function sweepStaleJobs(
  db: Db,
  leaseMs: number,
  send: (type: JobType, jobId: string) => Promise<void>,
): Promise<string[]> {
  const stale = await db.$queryRaw<Array<{ id: string; type: string }>>`
    UPDATE job SET state = 'queued', "heartbeatAt" = now(),
      phase = 'waiting for another worker: the one running it stopped responding'
    WHERE (state = 'running' AND "heartbeatAt" < now() - make_interval(secs => ${leaseMs / 1000}))
       OR (state = 'queued' AND attempts > 0 AND "heartbeatAt" < now() - make_interval(secs => ${leaseMs / 1000}))
    RETURNING id, type`;
  for (const job of stale) {
    await db.jobEvent
      .create({
        data: {
          jobId: job.id,
          level: "warn",
          step: "lease",
          message: `no heartbeat for ${Math.round(leaseMs / 1000)} s: the job goes back to the queue`,
        },
      })
      .catch(() => undefined);
    await send(job.type as JobType, job.id);
  }
  return stale.map((j) => j.id);
}
