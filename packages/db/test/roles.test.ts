import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { appRoleOf, appRoleProblems, grantAppRole } from "../src/roles";
import { createTestAppRole, createTestDatabase, type TestAppRole, type TestDatabase } from "../src/testing";

/** The audit log's append-only rule against the role the app connects as, on a real PostgreSQL. */
let t: TestDatabase;
let app: TestAppRole;
const roles: string[] = [];

async function as<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
const refusal = (c: pg.Client, sql: string) =>
  c.query(sql).then(
    () => ({ sql, code: "accepted" }),
    (e: { code?: string }) => ({ sql, code: e.code }),
  );

/** Another login role on the server, dropped after the database. */
async function extraRole(name: string): Promise<string> {
  const role = `${app.role}_${name}`;
  // A password: the embedded server of a run without DATABASE_URL does not trust loopback.
  const password = randomBytes(12).toString("hex");
  await as(t.url, (c) => c.query(`create role "${role}" login password '${password}'`));
  roles.push(role);
  const u = new URL(t.url);
  u.username = role;
  u.password = password;
  return u.toString();
}

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  app = await createTestAppRole(t);
  await as(t.url, (c) =>
    c.query(
      `insert into audit_event (id, action, outcome, "searchText") values (gen_random_uuid(), 'test.kept', 'success', 'kept')`,
    ),
  );
});
afterAll(async () => {
  await t.drop();
  await app.drop();
  for (const r of roles) await as(new URL("/postgres", t.url).toString(), (c) => c.query(`drop role "${r}"`));
});

describe("the app's role", () => {
  it("appends and reads audit rows", async () => {
    const rows = await as(app.url, async (c) => {
      await c.query(
        `insert into audit_event (id, action, outcome, "searchText") values (gen_random_uuid(), 'test.app', 'success', 'app')`,
      );
      return (await c.query("select action from audit_event order by action")).rows;
    });
    expect(rows.map((r) => r.action)).toEqual(["test.app", "test.kept"]);
  });

  it("cannot change, delete or hide audit rows, nor switch the append-only triggers off", async () => {
    const outcomes = await as(app.url, async (c) => {
      const out = [];
      for (const sql of [
        "update audit_event set outcome = 'denied'",
        "delete from audit_event",
        "truncate audit_event",
        "set session_replication_role = replica",
        "alter table audit_event disable trigger audit_event_no_update_delete",
        "alter table audit_event disable trigger all",
        "drop trigger audit_event_no_update_delete on audit_event",
        "create or replace function audit_event_append_only() returns trigger language plpgsql as $$ begin return old; end $$",
        "drop table audit_event",
        "alter table audit_event rename to audit_event_old",
        "create table public.audit_event_copy (x int)",
      ])
        out.push(await refusal(c, sql));
      return out;
    });
    // 42501 insufficient_privilege (or "must be owner", the same code) for every one of them.
    expect(outcomes).toEqual(outcomes.map(({ sql }) => ({ sql, code: "42501" })));
    const kept = await as(t.url, (c) => c.query("select count(*)::int as n from audit_event"));
    expect(kept.rows[0].n).toBe(2);
  });

  it("has ordinary DML on the other tables, but not on the migrations' bookkeeping", async () => {
    await as(app.url, async (c) => {
      await c.query(`insert into team (id, name, slug) values ('t1', 'Ops', 'ops')`);
      await c.query(`update team set name = 'Ops 2' where id = 't1'`);
      expect((await c.query("select name from team")).rows).toEqual([{ name: "Ops 2" }]);
      await c.query(`delete from team where id = 't1'`);
      expect((await refusal(c, "select * from _prisma_migrations")).code).toBe("42501");
    });
  });

  it("gets pg-boss's schema handed over, so that pg-boss can alter its tables", async () => {
    await as(t.url, async (c) => {
      await c.query("create schema pgboss");
      await c.query("create type pgboss.job_state as enum ('created')");
      await c.query("create table pgboss.job (id int, state pgboss.job_state)");
    });
    expect(await grantAppRole(t.url, app.role)).toEqual([]);
    await as(app.url, async (c) => {
      await c.query("alter table pgboss.job add column extra text");
      await c.query("create table pgboss.queue_part (like pgboss.job)");
    });
  });

  it("passes the start-up check", async () => {
    expect(await appRoleProblems(app.url)).toEqual([]);
  });
});

describe("the start-up check", () => {
  it("warns, naming the problem, when the app connects as a superuser", async () => {
    const [problem] = await appRoleProblems(t.url);
    expect(problem).toMatch(/"postgres" Lifeboat connects as is a superuser.*append-only triggers/);
    expect(problem).toMatch(/LIFEBOAT_MIGRATION_DATABASE_URL/);
  });

  it("warns when the app's role owns tables, naming them", async () => {
    const url = await extraRole("owner");
    await as(t.url, (c) => c.query(`alter table notification owner to "${app.role}_owner"`));
    const problems = await appRoleProblems(url);
    expect(problems).toEqual([
      expect.stringMatching(/owns 1 of its tables \(notification\).*disable or drop/),
    ]);
  });

  it("warns when the app's role may rewrite audit rows", async () => {
    const url = await extraRole("writer");
    await as(t.url, (c) => c.query(`grant update on audit_event to "${app.role}_writer"`));
    expect(await appRoleProblems(url)).toEqual([
      expect.stringMatching(/may UPDATE, DELETE or TRUNCATE audit_event/),
    ]);
  });
});

describe("appRoleOf", () => {
  it("is the app URL's role when migrations run as another one, else nothing", () => {
    const owner = "postgresql://owner:pw@db:5432/lifeboat";
    expect(appRoleOf("postgresql://lifeboat_app:x@db:5432/lifeboat", owner)).toBe("lifeboat_app");
    expect(appRoleOf("postgresql://owner:other@db:5432/lifeboat", owner)).toBeUndefined();
  });
});
