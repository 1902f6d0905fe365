// Creates prisma/migrations/<timestamp>_<name>/migration.sql from the change in prisma/schema.prisma.
// Wraps `prisma migrate dev --create-only` against a scratch database: with the wasm schema engine that
// command writes the migration and then fails on shutdown ("null pointer passed to rust"), so success is
// judged by the new folder, and the result is proven by deploying every migration to a second scratch db.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";

const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error("usage: pnpm --filter @lifeboat/db db:migration:new <snake_case_name>");
  process.exit(2);
}
const base = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const migrationsDir = path.resolve(import.meta.dirname, "../../../prisma/migrations");
const before = new Set(fs.readdirSync(migrationsDir));
const admin = new pg.Client({ connectionString: base });
await admin.connect();
const scratch = (tag) => `lifeboat_${tag}_${randomBytes(4).toString("hex")}`;
const dev = scratch("mig");
const check = scratch("chk");
const urlFor = (db) => Object.assign(new URL(base), { pathname: `/${db}` }).toString();
const prisma = (db, args) =>
  spawnSync("pnpm", ["exec", "prisma", ...args], {
    cwd: path.resolve(import.meta.dirname, ".."),
    env: {
      ...process.env,
      DATABASE_URL: urlFor(db),
      CHECKPOINT_DISABLE: "1",
      NODE_OPTIONS: "--require=./scripts/unref-timers.cjs",
    },
    encoding: "utf8",
  });
try {
  await admin.query(`create database "${dev}"`);
  await admin.query(`create database "${check}"`);
  const deployed = prisma(dev, ["migrate", "deploy"]);
  if (deployed.status !== 0) throw new Error(deployed.stdout + deployed.stderr);
  prisma(dev, ["migrate", "dev", "--create-only", "--name", name]);
  const created = fs.readdirSync(migrationsDir).filter((d) => !before.has(d));
  if (created.length !== 1) throw new Error("no migration was created (is the schema unchanged?)");
  const verify = prisma(check, ["migrate", "deploy"]);
  if (verify.status !== 0)
    throw new Error(`the new migration does not apply:\n${verify.stdout}${verify.stderr}`);
  console.log(`created prisma/migrations/${created[0]}/migration.sql`);
} finally {
  for (const db of [dev, check]) await admin.query(`drop database if exists "${db}" with (force)`);
  await admin.end();
}
