import type { Db } from "@lifeboat/db";
import { z } from "zod";

/** A worker renews its heartbeat every 15 s: three missed beats and it counts as gone. */
export const WORKER_LIVE_MS = 45_000;
/** A supervised service that restarted within this window is still worth a banner. */
export const RECENT_RESTART_MS = 60 * 60_000;

const SERVICE_LABELS: Record<string, string> = {
  postgres: "embedded PostgreSQL",
  worker: "worker",
  web: "web server",
};

export interface ServiceHealth {
  database: boolean;
  /** Worker processes that renewed their heartbeat recently (on any host). */
  liveWorkers: number;
  lastWorkerSeenAt: Date | null;
  /** What `lifeboat start` reported of the processes it supervises, per host. */
  services: Array<{
    host: string;
    name: string;
    state: string;
    restarts: number;
    lastExitReason: string | null;
    lastExitAt: Date | null;
  }>;
  /** Sentences for the admins' banner, empty when all is well. */
  problems: string[];
}

function noWorker(lastSeenAt: Date | null): string {
  return lastSeenAt
    ? `No worker is running: the last one was seen ${lastSeenAt.toISOString()}. Backups, restores and verifies wait until one runs again.`
    : "No worker is running: backups, restores and verifies wait until one runs.";
}

/**
 * Whether Lifeboat can do its work: the database answers, some worker takes jobs, and no supervised process is
 * restarting or was given up on. Read by the overview's banner (admins, `system.services`); `livenessOf` is the
 * part of it that load balancers read (`system.health`).
 */
export async function serviceHealth(db: Db, now = new Date()): Promise<ServiceHealth> {
  try {
    const [workers, lastSeen, services] = await Promise.all([
      db.workerHeartbeat.count({ where: { seenAt: { gte: new Date(now.getTime() - WORKER_LIVE_MS) } } }),
      db.workerHeartbeat.findFirst({ orderBy: { seenAt: "desc" }, select: { seenAt: true } }),
      db.serviceStatus.findMany({ orderBy: [{ host: "asc" }, { name: "asc" }] }),
    ]);
    const problems: string[] = [];
    if (workers === 0) problems.push(noWorker(lastSeen?.seenAt ?? null));
    for (const s of services) {
      const name = SERVICE_LABELS[s.name] ?? s.name;
      const where = services.some((o) => o.host !== s.host) ? ` on ${s.host}` : "";
      const exit = s.lastExitReason ? ` (last exit: ${s.lastExitReason})` : "";
      if (s.state === "failed")
        problems.push(`The ${name}${where} kept exiting and was given up on${exit}; Lifeboat stopped.`);
      else if (s.state === "restarting")
        problems.push(`The ${name}${where} exited and is being restarted${exit}.`);
      else if (s.restarts > 0 && s.lastExitAt && now.getTime() - s.lastExitAt.getTime() < RECENT_RESTART_MS)
        problems.push(
          `The ${name}${where} was restarted ${s.restarts === 1 ? "once" : `${s.restarts} times`}${exit}.`,
        );
    }
    return {
      database: true,
      liveWorkers: workers,
      lastWorkerSeenAt: lastSeen?.seenAt ?? null,
      services,
      problems,
    };
  } catch {
    return {
      database: false,
      liveWorkers: 0,
      lastWorkerSeenAt: null,
      services: [],
      problems: ["The database does not answer."],
    };
  }
}

export const liveness = z.object({
  ok: z.boolean(),
  database: z.boolean(),
  /** Some worker renewed its heartbeat within WORKER_LIVE_MS (on any host). */
  worker: z.boolean(),
  /** What is down, in words; null when ok. */
  problem: z.string().nullable(),
});
export type Liveness = z.infer<typeof liveness>;

/**
 * Liveness for load balancers: the database answers and some worker is live. Without a worker nothing queued
 * ever runs, so an instance that accepts backups then is as unhealthy as one without its database.
 */
export async function livenessOf(db: Db, now = new Date()): Promise<Liveness> {
  const newest = await db.workerHeartbeat.aggregate({ _max: { seenAt: true } }).then(
    (r) => ({ seenAt: r._max.seenAt }),
    () => null,
  );
  if (!newest) return { ok: false, database: false, worker: false, problem: "The database does not answer." };
  const worker = newest.seenAt !== null && now.getTime() - newest.seenAt.getTime() <= WORKER_LIVE_MS;
  return { ok: worker, database: true, worker, problem: worker ? null : noWorker(newest.seenAt) };
}
