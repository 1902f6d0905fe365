import { randomUUID } from "node:crypto";
import os from "node:os";
import type { Db } from "@lifeboat/db";

/** How often a worker renews its row; system.health counts a worker live for three periods. */
export const WORKER_HEARTBEAT_MS = 15_000;

/**
 * The worker's row in worker_heartbeat: written at start, renewed every period, removed on a clean stop. A killed
 * worker's row simply goes stale, which is how health and the overview learn that no worker is running.
 */
export async function startWorkerHeartbeat(db: Db, periodMs = WORKER_HEARTBEAT_MS) {
  const id = randomUUID();
  const beat = () =>
    db.workerHeartbeat.upsert({
      where: { id },
      create: { id, host: os.hostname(), pid: process.pid },
      update: { seenAt: new Date() },
    });
  await beat();
  const timer = setInterval(() => {
    // A database outage is reported by the jobs themselves; the next beat after it catches up.
    beat().catch(() => {});
  }, periodMs);
  timer.unref();
  return {
    id,
    async stop() {
      clearInterval(timer);
      await db.workerHeartbeat.deleteMany({ where: { id } }).catch(() => {});
    },
  };
}
