import type { Db } from "@lifeboat/db";
import type { JobRun } from "./attempt";
import type { JobType } from "./job-types";
import { fenceOf } from "./states";

/** A failure worth another attempt (the catalog database briefly away), in an operator's words; else undefined. */
export type TransientClassifier = (e: unknown) => string | undefined;

/** Sends the job to pg-boss again, to be delivered after `delayMs`. */
export type SendLater = (type: JobType, jobId: string, opts?: { delayMs?: number }) => Promise<void>;

/** Attempts a job gets while each of its failures is transient; the last one fails in the classifier's words. */
export const TRANSIENT_ATTEMPTS = 5;

/** 5 s, 10 s, 20 s…, at most half a lease: a queued row older than the lease is swept and sent again anyway. */
export function retryDelayMs(attempt: number, leaseMs: number): number {
  return Math.min(5_000 * 2 ** Math.max(0, attempt - 1), Math.floor(leaseMs / 2));
}

/**
 * Ends this attempt by putting the row back in the queue, to be tried again after `delayMs`, with a warning event
 * saying why. The database may be what is away: each write is tried a few times, and when none lands the row stays
 * `running` without a heartbeat, so the lease sweep sends it again once the database is back. A landed row whose
 * delivery was lost is swept the same way.
 */
export async function retryLater(
  db: Db,
  run: JobRun,
  type: JobType,
  words: string,
  delayMs: number,
  send: SendLater,
): Promise<void> {
  const seconds = Math.round(delayMs / 1000);
  for (let i = 0; i < 3; i++) {
    try {
      const requeued = await db.job.updateMany({
        where: fenceOf(run.jobId, run.attempt),
        data: { state: "queued", heartbeatAt: new Date(), phase: `retrying in ${seconds} s: ${words}` },
      });
      if (requeued.count !== 1) return; // another attempt holds the row
      await db.jobEvent
        .create({
          data: {
            jobId: run.jobId,
            level: "warn",
            step: "retry",
            message: `attempt ${run.attempt} of ${TRANSIENT_ATTEMPTS} stopped: ${words}; trying again in ${seconds} s`,
          },
        })
        .catch(() => undefined);
      await send(type, run.jobId, { delayMs }).catch(() => undefined);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 1000 * (i + 1)));
    }
  }
}
