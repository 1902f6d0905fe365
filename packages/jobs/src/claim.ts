import type { Db, Job } from "@lifeboat/db";

/**
 * Claims the job's row for a new attempt: a queued row, or a running one whose heartbeat is older than the lease
 * (its worker died). Null when it is finished or a live worker holds it (a duplicate delivery).
 */
export async function claimJob(db: Db, jobId: string, leaseMs: number): Promise<Job | null> {
  const rows = await db.$queryRaw<Array<{ id: string }>>`
    UPDATE job SET state = 'running', attempts = attempts + 1, "heartbeatAt" = now(),
      "startedAt" = COALESCE("startedAt", now()),
      phase = CASE WHEN attempts > 0 THEN 'resuming' ELSE 'starting' END
    WHERE id = ${jobId}
      AND (state = 'queued'
        OR (state = 'running' AND ("heartbeatAt" IS NULL OR "heartbeatAt" < now() - make_interval(secs => ${leaseMs / 1000}))))
    RETURNING id`;
  if (rows.length === 0) return null;
  return db.job.findUniqueOrThrow({ where: { id: jobId } });
}
