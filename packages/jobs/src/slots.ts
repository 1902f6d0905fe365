import pg from "pg";

/** A slot of an engine's concurrency limit, held until released (or until this process dies). */
export interface EngineSlot {
  index: number;
  release(): Promise<void>;
}

/**
 * The per-engine concurrency limit across every worker: slot i of engine E is the PostgreSQL session advisory
 * lock (hashtext('lifeboat:engine:E'), i), held on a connection of its own for the whole job. A worker that
 * dies loses its connection and PostgreSQL frees its slots at once; no table to clean up.
 */
export async function acquireEngineSlot(
  databaseUrl: string,
  engine: { id: string; name: string },
  limit: number,
  opts: { signal?: AbortSignal; onWaiting?: (phase: string) => void; pollMs?: number } = {},
): Promise<EngineSlot> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "lifeboat engine slot" });
  // A dropped connection also drops the locks: the job notices through its heartbeat, not through this client.
  client.on("error", () => undefined);
  await client.connect();
  try {
    let waited = false;
    for (;;) {
      opts.signal?.throwIfAborted();
      for (let index = 0; index < limit; index++) {
        const { rows } = await client.query<{ locked: boolean }>(
          "SELECT pg_try_advisory_lock(hashtext($1), $2) AS locked",
          [`lifeboat:engine:${engine.id}`, index],
        );
        if (rows[0]?.locked)
          return {
            index,
            async release() {
              await client.query("SELECT pg_advisory_unlock_all()").catch(() => undefined);
              await client.end().catch(() => undefined);
            },
          };
      }
      if (!waited)
        opts.onWaiting?.(
          `waiting for a free slot on engine ${engine.name} (${limit} job${limit === 1 ? "" : "s"} at a time)`,
        );
      waited = true;
      await abortableSleep(opts.pollMs ?? 1000, opts.signal);
    }
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
