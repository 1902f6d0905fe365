import { type EngineConnection, engineConnection } from "@lifeboat/domain";
import type { JobType } from "@lifeboat/jobs";
import { acquireEngineSlot, JobFailure } from "@lifeboat/jobs";
import type { DurableJobContext } from "../job-context";
import { cleanUpEarlierAttempts } from "./recovery";

/**
 * The frame of every job that works on an engine: one of the engine's concurrency slots (waiting for one shows
 * in the job's phase), a client of the engine, and — on a later attempt — the cleanup of what the earlier
 * attempt left on the engine before anything else. After `maxAttempts` the job fails, the engine cleaned up.
 */
export async function withEngineJob<T extends JobType, R>(
  ctx: DurableJobContext<T>,
  engineId: string,
  fn: (c: EngineConnection) => Promise<R>,
): Promise<R> {
  const { db, run, settings } = ctx;
  const row = await db.engine.findUnique({ where: { id: engineId } });
  if (!row) throw new JobFailure("The engine of this job is no longer registered in Lifeboat.");
  let waited = false;
  // A later attempt cleans the engine up even when the job was cancelled meanwhile: only then may it end.
  const mustClean = run.attempt > 1;
  const slot = await acquireEngineSlot(settings.databaseUrl, row, settings.engineConcurrency, {
    signal: mustClean ? undefined : run.signal,
    onWaiting: (phase) => {
      waited = true;
      run.setPhase(phase);
      run.event("info", "slot", phase);
    },
  });
  try {
    if (waited)
      run.event("info", "slot", `got slot ${slot.index + 1} of ${settings.engineConcurrency} on ${row.name}`);
    const conn = engineConnection(row, {
      encryptionKey: settings.config.encryptionKey,
      logger: (line) => run.event("warn", "engine", line),
    });
    try {
      if (mustClean) await cleanUpEarlierAttempts(run, conn.engine, engineId);
      run.signal.throwIfAborted();
      if (run.attempt > settings.maxAttempts)
        throw new JobFailure(
          `Gave up after ${settings.maxAttempts} attempts: the worker running this job stopped each time. What the attempts left on the engine was cleaned up (see the leftovers, if any).`,
        );
      return await fn(conn);
    } finally {
      await conn.close().catch(() => undefined);
    }
  } finally {
    await slot.release();
  }
}
