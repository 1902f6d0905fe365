import fs from "node:fs";
import path from "node:path";
import type { ServerEnv } from "@lifeboat/config";
import { appRoleOf, type Db, disconnectAll, EMBEDDED_APP_ROLE, getDb } from "@lifeboat/db";
import { startEmbeddedPostgres } from "@lifeboat/db/embedded";
import { migrateDeploy } from "@lifeboat/db/migrate";
import pg from "pg";

/**
 * Migrates the catalog as the owner of its tables, then gives the app's role its grants (when it is another
 * role); returns warnings for the log. `ownerUrl` defaults to the app's own URL (one role for both).
 */
export async function migrateCatalog(appUrl: string, ownerUrl = appUrl): Promise<string[]> {
  return migrateDeploy(ownerUrl, { appRole: appRoleOf(appUrl, ownerUrl) });
}

/**
 * Runs `fn` against the catalog of this installation as the app's role: DATABASE_URL when set (migrated as
 * LIFEBOAT_MIGRATION_DATABASE_URL when that is set), else the embedded PostgreSQL of the data dir — the
 * running one if `lifeboat start` is up, or a briefly started one.
 */
export async function withCatalog<T>(env: ServerEnv, fn: (db: Db, url: string) => Promise<T>): Promise<T> {
  let url = env.DATABASE_URL;
  let ownerUrl = env.LIFEBOAT_MIGRATION_DATABASE_URL ?? url;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!url) {
    const pgDir = path.join(env.dataDir, "pg");
    const passwordFile = path.join(pgDir, "password");
    const appPasswordFile = path.join(pgDir, "app-password");
    if (fs.existsSync(passwordFile) && fs.existsSync(appPasswordFile)) {
      const at = `@127.0.0.1:${env.LIFEBOAT_EMBEDDED_PG_PORT}/lifeboat`;
      const secret = (file: string) => encodeURIComponent(fs.readFileSync(file, "utf8").trim());
      const owner = `postgresql://postgres:${secret(passwordFile)}${at}`;
      const probe = new pg.Client({ connectionString: owner, connectionTimeoutMillis: 1500 });
      if (
        await probe.connect().then(
          () => true,
          () => false,
        )
      ) {
        await probe.end();
        ownerUrl = owner;
        url = `postgresql://${EMBEDDED_APP_ROLE}:${secret(appPasswordFile)}${at}`;
      }
    }
    if (!url) {
      const handle = await startEmbeddedPostgres({ dataDir: pgDir, port: env.LIFEBOAT_EMBEDDED_PG_PORT });
      stopEmbedded = handle.stop;
      url = handle.url;
      ownerUrl = handle.ownerUrl;
    }
  }
  try {
    for (const w of await migrateCatalog(url, ownerUrl)) console.error(`[lifeboat] ${w}`);
    return await fn(getDb(url), url);
  } finally {
    await disconnectAll();
    await stopEmbedded?.();
  }
}
