import type { Db } from "@lifeboat/db";
import type { ProgressSample } from "./progress";

/** What a heartbeat learnt: the attempt still holds the row, lost it to another worker, or is asked to cancel. */
export type Heartbeat = "held" | "lost" | "cancel-requested";

/**
 * The heartbeat of one attempt: renews the lease (heartbeatAt) and writes the progress in one UPDATE fenced by the
 * attempt number, which also reads cancelRequested. A row that moved on (another attempt, or not running) is lost.
 */
export async function heartbeat(
  db: Db,
  jobId: string,
  attempt: number,
  progress: ProgressSample,
): Promise<Heartbeat> {
  const rows = await db.$queryRaw<Array<{ cancelRequested: boolean }>>`
    UPDATE job SET "heartbeatAt" = now(), phase = ${progress.phase}, "bytesDone" = ${progress.bytesDone},
      "bytesTotal" = ${progress.bytesTotal}, rate = ${progress.rate}
    WHERE id = ${jobId} AND attempts = ${attempt} AND state = 'running'
    RETURNING "cancelRequested"`;
  const row = rows[0];
  if (!row) return "lost";
  return row.cancelRequested ? "cancel-requested" : "held";
}
