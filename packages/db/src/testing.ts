import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { type Db, getDb } from "./client";
import { startEmbeddedPostgres } from "./embedded";
import { migrateDeploy } from "./migrate";
import { grantAppRole } from "./roles";

/**
 * Test databases. A vitest globalSetup calls `startTestDatabaseServer()` once per run: it uses the server of
 * DATABASE_URL when set (never that database itself), otherwise an embedded PostgreSQL in a temp folder, and
 * builds a migrated template database. Each test file then calls `createTestDatabase()` for its own copy.
 */
declare module "vitest" {
  export interface ProvidedContext {
    testDatabase: { adminUrl: string; template: string };
  }
}

export interface TestDatabaseServer {
  adminUrl: string;
  template: string;
  teardown(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function startTestDatabaseServer(): Promise<TestDatabaseServer> {
  let adminUrl: string;
  let stop = async () => {};
  if (process.env.DATABASE_URL) {
    adminUrl = withDatabase(process.env.DATABASE_URL, "postgres");
  } else {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-test-pg-"));
    fs.chmodSync(dataDir, 0o755);
    const handle = await startEmbeddedPostgres({ dataDir, port: await freePort(), ephemeral: true });
    adminUrl = handle.adminUrl;
    stop = async () => {
      await handle.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    };
  }
  const template = `lifeboat_tpl_${randomBytes(5).toString("hex")}`;
  await admin(adminUrl, (c) => c.query(`create database "${template}"`));
  await migrateDeploy(withDatabase(adminUrl, template));
  return {
    adminUrl,
    template,
    async teardown() {
      await admin(adminUrl, async (c) => {
        const left = await c.query<{ datname: string }>(
          "select datname from pg_database where datname like $1 or datname = $2",
          [`${template}_%`, template],
        );
        for (const { datname } of left.rows)
          await c.query(`drop database if exists "${datname}" with (force)`);
      });
      await stop();
    },
  };
}

export interface TestDatabase {
  url: string;
  db: Db;
  drop(): Promise<void>;
}

/** A fresh, migrated database copied from the run's template. */
export async function createTestDatabase(server: {
  adminUrl: string;
  template: string;
}): Promise<TestDatabase> {
  const name = `${server.template}_${randomBytes(4).toString("hex")}`;
  await admin(server.adminUrl, async (c) => {
    // CREATE DATABASE … TEMPLATE fails while another copy is being made from it; retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(`create database "${name}" template "${server.template}"`);
        return;
      } catch (e) {
        if (attempt >= 20 || !String(e).includes("being accessed")) throw e;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  });
  const url = withDatabase(server.adminUrl, name);
  const db = getDb(url);
  return {
    url,
    db,
    async drop() {
      await db.$disconnect();
      await admin(server.adminUrl, (c) => c.query(`drop database if exists "${name}" with (force)`));
    },
  };
}

export interface TestAppRole {
  role: string;
  /** The test database as this role (neither superuser nor owner), with the grants migrations give it. */
  url: string;
  /** Drops the role: call it after the test database is dropped (the role may own pg-boss's schema there). */
  drop(): Promise<void>;
}

/** A login role for `t` as the app connects in production, granted by `grantAppRole` (as the owner). */
export async function createTestAppRole(t: TestDatabase): Promise<TestAppRole> {
  const role = `lifeboat_app_${randomBytes(4).toString("hex")}`;
  const password = randomBytes(12).toString("hex");
  const adminUrl = withDatabase(t.url, "postgres");
  await admin(adminUrl, (c) => c.query(`create role "${role}" login password '${password}'`));
  await grantAppRole(t.url, role);
  const u = new URL(t.url);
  u.username = role;
  u.password = password;
  return {
    role,
    url: u.toString(),
    drop: () => admin(adminUrl, (c) => c.query(`drop role if exists "${role}"`)).then(() => undefined),
  };
}
