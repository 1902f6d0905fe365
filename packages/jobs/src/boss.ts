import PgBoss from "pg-boss";
import { JOB_TYPES } from "./job-types";

const instances = new Map<string, Promise<PgBoss>>();

/**
 * pg-boss on the same PostgreSQL (schema `pgboss`). Web processes only send; workers also supervise and run
 * schedules. A job's lease (expireIn) is how a killed worker's job comes back: pg-boss retries it elsewhere.
 */
export function getBoss(url: string, role: "sender" | "worker" = "sender"): Promise<PgBoss> {
  const key = `${role}:${url}`;
  let boss = instances.get(key);
  if (!boss) {
    boss = (async () => {
      const b = new PgBoss({
        connectionString: url,
        schema: "pgboss",
        max: role === "worker" ? 6 : 3,
        supervise: role === "worker",
        schedule: role === "worker",
        migrate: true,
      });
      b.on("error", (e) => console.error("[queue]", e.message));
      await b.start();
      for (const name of JOB_TYPES) {
        if (!(await b.getQueue(name)))
          await b.createQueue(name, { name, retryLimit: 2, expireInMinutes: 15 });
      }
      return b;
    })();
    instances.set(key, boss);
    boss.catch(() => instances.delete(key));
  }
  return boss;
}

export async function stopBosses(): Promise<void> {
  const all = [...instances.values()];
  instances.clear();
  await Promise.allSettled(all.map(async (b) => (await b).stop({ graceful: false, wait: true })));
}
