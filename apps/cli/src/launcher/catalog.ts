import fs from "node:fs";
import path from "node:path";
import type { ServerEnv } from "@lifeboat/config";
import { type Db, disconnectAll, getDb } from "@lifeboat/db";
import { startEmbeddedPostgres } from "@lifeboat/db/embedded";
import { migrateDeploy } from "@lifeboat/db/migrate";
import pg from "pg";

/**
 * Runs `fn` against the catalog of this installation: DATABASE_URL when set, else the embedded PostgreSQL of
 * the data dir — the running one if `lifeboat start` is up, or a briefly started one.
 */
export async function withCatalog<T>(env: ServerEnv, fn: (db: Db, url: string) => Promise<T>): Promise<T> {
  let url = env.DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!url) {
    const pgDir = path.join(env.dataDir, "pg");
    const passwordFile = path.join(pgDir, "password");
    if (fs.existsSync(passwordFile)) {
      const candidate = `postgresql://postgres:${encodeURIComponent(fs.readFileSync(passwordFile, "utf8").trim())}@127.0.0.1:${env.LIFEBOAT_EMBEDDED_PG_PORT}/lifeboat`;
      const probe = new pg.Client({ connectionString: candidate, connectionTimeoutMillis: 1500 });
      if (
        await probe.connect().then(
          () => true,
          () => false,
        )
      ) {
        await probe.end();
        url = candidate;
      }
    }
    if (!url) {
      const handle = await startEmbeddedPostgres({ dataDir: pgDir, port: env.LIFEBOAT_EMBEDDED_PG_PORT });
      stopEmbedded = handle.stop;
      url = handle.url;
    }
  }
  try {
    await migrateDeploy(url);
    return await fn(getDb(url), url);
  } finally {
    await disconnectAll();
    await stopEmbedded?.();
  }
}
