import { randomUUID } from "node:crypto";
import { PrismaPg } from "@prisma/adapter-pg";

// Works around two Prisma 6.19 `engine: "js"` bugs (toolchain.md Appendix A):
//  - prisma/orm#27403: adapter-pg cannot map the `name` and `"char"` column types the schema engine reads
//    from the catalog;
//  - its connectToShadowDb() reuses the main database as the "shadow" one;
//  - its executeScript() splits a migration on every ";", which breaks dollar-quoted function bodies.
// The adapter's internals are untyped from here, hence the loose types.
// biome-ignore lint/suspicious/noExplicitAny: patching untyped adapter internals
type Loose = any;
const NAME_OID = 19;
const CHAR_OID = 18;
const TEXT_OID = 25;
const CHARACTER_COLUMN = 6;

function patchQueryable(q: Loose): Loose {
  if (!q || q.__lifeboatPatched) return q;
  q.__lifeboatPatched = true;
  const charColumns = new WeakMap<object, number[]>();
  const performIO = q.performIO?.bind(q);
  if (performIO)
    q.performIO = async (query: Loose, ...rest: unknown[]) => {
      const res = await performIO(query, ...rest);
      const idx: number[] = [];
      (res.fields ?? []).forEach((f: Loose, i: number) => {
        if (f.dataTypeID === NAME_OID) f.dataTypeID = TEXT_OID;
        else if (f.dataTypeID === CHAR_OID) {
          f.dataTypeID = TEXT_OID;
          idx.push(i);
        }
      });
      if (idx.length && query && typeof query === "object") charColumns.set(query, idx);
      return res;
    };
  const queryRaw = q.queryRaw?.bind(q);
  if (queryRaw)
    q.queryRaw = async (query: Loose) => {
      const r = await queryRaw(query);
      for (const i of charColumns.get(query) ?? []) r.columnTypes[i] = CHARACTER_COLUMN;
      return r;
    };
  if (q.executeScript && q.client?.query)
    // One simple-protocol query runs the whole script, so `$$ ... ; ... $$` bodies stay intact.
    q.executeScript = async (script: string) => {
      try {
        await q.client.query(script);
      } catch (error) {
        q.onError(error);
      }
    };
  const startTransaction = q.startTransaction?.bind(q);
  if (startTransaction)
    q.startTransaction = async (...a: unknown[]) => patchQueryable(await startTransaction(...a));
  return q;
}

// Discrete fields: with a connectionString the pool would ignore `database`.
function poolConfig(url: string, database?: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: database ?? decodeURIComponent(u.pathname.slice(1)),
    idleTimeoutMillis: 200,
    allowExitOnIdle: true,
  };
}

export function migrationAdapter(url: string, shadowUrl = process.env.SHADOW_DATABASE_URL) {
  const factory: Loose = new PrismaPg(poolConfig(url));
  const connect = factory.connect.bind(factory);
  factory.connect = async () => patchQueryable(await connect());
  factory.connectToShadowDb = async () => {
    if (shadowUrl) return patchQueryable(await new PrismaPg(poolConfig(shadowUrl)).connect());
    const main = await factory.connect();
    const database = `prisma_migrate_shadow_db_${randomUUID()}`;
    await main.executeScript(`CREATE DATABASE "${database}"`);
    const shadow = patchQueryable(await new PrismaPg(poolConfig(url, database)).connect());
    const dispose = shadow.dispose.bind(shadow);
    shadow.dispose = async () => {
      await dispose();
      await main.executeScript(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await main.dispose();
    };
    return shadow;
  };
  return factory;
}
