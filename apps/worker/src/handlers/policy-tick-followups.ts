import type { Db } from "@lifeboat/db";
import { afterPolicyJob, type NotifyConfig } from "@lifeboat/domain";
import type { JobQueue } from "@lifeboat/jobs";

/**
 * Runs after every job the worker finished: a policy's successful backup queues the prune of that VM, a
 * policy's failed job tells the team. A failure here is logged; it never changes the job's own outcome.
 */
export async function afterJob(db: Db, queue: JobQueue, notify: NotifyConfig, jobId: string): Promise<void> {
  await afterPolicyJob(db, queue, jobId, notify).catch((e) =>
    console.error(`[worker] follow-up of job ${jobId} failed: ${e instanceof Error ? e.message : String(e)}`),
  );
}
