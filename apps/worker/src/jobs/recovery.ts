import type { Db } from "@lifeboat/db";
import type { JobType } from "@lifeboat/domain";
import { cleanupEngineObjects, type EngineClient, type EngineObjectRecord } from "@lifeboat/ovirt-core";
import { z } from "zod";
import { ENGINE_OBJECT_STEP, type JobRun } from "./run";

const record = z.object({
  kind: z.enum(["snapshot", "image_transfer", "disk", "vm"]),
  id: z.string(),
  vmId: z.string().optional(),
  diskId: z.string().optional(),
  state: z.enum(["created", "removed"]),
  purpose: z.string(),
});

/** Every engine object a job journaled, over all its attempts, in order. */
export async function engineJournal(db: Db, jobId: string): Promise<EngineObjectRecord[]> {
  const rows = await db.jobEvent.findMany({
    where: { jobId, step: ENGINE_OBJECT_STEP },
    orderBy: { id: "asc" },
    select: { details: true },
  });
  const out: EngineObjectRecord[] = [];
  for (const r of rows) {
    const parsed = record.safeParse(r.details);
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}

/**
 * Before a later attempt touches the engine: whatever the earlier attempts journaled and did not remove
 * (transfers, the temporary snapshot, half-restored VMs and disks) is cleaned up; what cannot be becomes a
 * Leftover of the job. Returns how many objects were outstanding.
 */
export async function cleanUpEarlierAttempts(
  run: JobRun,
  engine: EngineClient,
  engineId: string,
): Promise<{ outstanding: number; leftovers: number }> {
  const journal = await engineJournal(run.db, run.jobId);
  const open = new Map<string, EngineObjectRecord>();
  for (const r of journal) {
    const key = `${r.kind}:${r.id}`;
    if (r.state === "created") open.set(key, r);
    else open.delete(key);
  }
  if (open.size === 0) {
    run.event("info", "recover", "the earlier attempt left nothing on the engine");
    return { outstanding: 0, leftovers: 0 };
  }
  run.setPhase(`cleaning up after attempt ${run.attempt - 1}`);
  run.event(
    "warn",
    "recover",
    `cleaning up what attempt ${run.attempt - 1} left on the engine: ${[...open.values()].map((r) => `${r.kind.replace("_", " ")} ${r.id}`).join(", ")}`,
  );
  const hooks = run.hooks();
  const { leftovers } = await cleanupEngineObjects(engine, journal, {
    onEvent: hooks.onEvent,
    onEngineObject: hooks.onEngineObject,
  });
  await run.leftovers(engineId, leftovers);
  return { outstanding: open.size, leftovers: leftovers.length };
}

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
