import pg from "pg";

/**
 * Two database roles. The owner runs the migrations and owns the tables; the app (web, workers) connects as a
 * role that is neither superuser nor owner, because either one can switch the audit log's append-only
 * triggers off (`session_replication_role = replica`, `ALTER TABLE … DISABLE TRIGGER`, `DROP TRIGGER`).
 * The app's role gets ordinary DML on the catalog's tables, only INSERT and SELECT on `audit_event`, and the
 * pg-boss schema, whose tables pg-boss itself creates and alters.
 */

/** The app role of the embedded PostgreSQL (its owner is the cluster's superuser, `postgres`). */
export const EMBEDDED_APP_ROLE = "lifeboat_app";
const BOSS_SCHEMA = "pgboss";
const AUDIT_TABLE = "audit_event";

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const userOf = (url: string) => decodeURIComponent(new URL(url).username);

/**
 * The role to grant when the app connects (`appUrl`) as another role than the migrations run as (`ownerUrl`),
 * else undefined: one role for both is what the start-up check warns about.
 */
export function appRoleOf(appUrl: string, ownerUrl: string): string | undefined {
  const app = userOf(appUrl);
  return app && app !== userOf(ownerUrl) ? app : undefined;
}

/**
 * Gives `appRole` what the app needs and nothing more, run by the owner after every migration (so new tables
 * are covered). Returns warnings for what the owner could not do (moving a pg-boss schema made by another
 * role to the app's role needs a superuser or membership in that role).
 */
export async function grantAppRole(ownerUrl: string, appRole: string): Promise<string[]> {
  return withClient(ownerUrl, async (c) => {
    const app = c.escapeIdentifier(appRole);
    const { rows } = await c.query<{ db: string }>("select current_database() as db");
    const db = c.escapeIdentifier(rows[0]?.db ?? "");
    await c.query("begin");
    // CREATE on the database: pg-boss makes its own schema on its first start.
    await c.query(`grant connect, create on database ${db} to ${app}`);
    await c.query(`grant usage on schema public to ${app}`);
    await c.query(`grant select, insert, update, delete on all tables in schema public to ${app}`);
    await c.query(`grant usage, select on all sequences in schema public to ${app}`);
    await c.query(`revoke all on table ${c.escapeIdentifier(AUDIT_TABLE)} from ${app}`);
    await c.query(`grant select, insert on table ${c.escapeIdentifier(AUDIT_TABLE)} to ${app}`);
    await c.query(`revoke all on table "_prisma_migrations" from ${app}`);
    await c.query("commit");
    return handBossSchemaTo(c, appRole);
  });
}

/** pg-boss alters its tables (a partition per queue): its schema must belong to the app's role. */
async function handBossSchemaTo(c: pg.Client, appRole: string): Promise<string[]> {
  const owner = await c.query<{ owner: string }>(
    "select pg_get_userbyid(nspowner) as owner from pg_namespace where nspname = $1",
    [BOSS_SCHEMA],
  );
  const current = owner.rows[0]?.owner;
  if (!current || current === appRole) return [];
  const app = c.escapeIdentifier(appRole);
  const objects = await c.query<{ sql: string }>(
    `select format('alter table %I.%I owner to ', n.nspname, c.relname) as sql
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('r', 'p')
     union all
     select format('alter function %s owner to ', p.oid::regprocedure)
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1
     union all
     select format('alter type %I.%I owner to ', n.nspname, t.typname)
       from pg_type t join pg_namespace n on n.oid = t.typnamespace
      where n.nspname = $1 and t.typtype = 'e'`,
    [BOSS_SCHEMA],
  );
  try {
    await c.query("begin");
    await c.query(`alter schema ${c.escapeIdentifier(BOSS_SCHEMA)} owner to ${app}`);
    for (const o of objects.rows) await c.query(o.sql + app);
    await c.query("commit");
    return [];
  } catch (e) {
    await c.query("rollback");
    return [
      `The job queue's schema "${BOSS_SCHEMA}" belongs to "${current}", not to the app's role "${appRole}", ` +
        `and the migration role could not hand it over (${(e as Error).message}). As a superuser, run: ` +
        `ALTER SCHEMA ${BOSS_SCHEMA} OWNER TO ${app}; and the same for its tables, or drop it while no job runs.`,
    ];
  }
}

/**
 * The start-up check of the role a process connects as: a warning, naming the problem, when it is a
 * superuser, owns (or may act as the owner of) catalog tables, or may change audit rows. Empty when all is well.
 */
export async function appRoleProblems(url: string): Promise<string[]> {
  return withClient(url, async (c) => {
    const me = await c.query<{ role: string; superuser: boolean }>(
      "select current_user as role, rolsuper as superuser from pg_roles where rolname = current_user",
    );
    const role = me.rows[0]?.role ?? userOf(url);
    const advice =
      "Connect as a role that is neither superuser nor owner of the tables, and run migrations as the owner " +
      "(LIFEBOAT_MIGRATION_DATABASE_URL; README, Database roles).";
    if (me.rows[0]?.superuser)
      return [
        `The database role "${role}" Lifeboat connects as is a superuser: it can switch off the audit log's ` +
          `append-only triggers and rewrite or delete audit rows. ${advice}`,
      ];
    const problems: string[] = [];
    const owned = await c.query<{ name: string }>(
      `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p') and pg_has_role(current_user, c.relowner, 'MEMBER')
        order by c.relname`,
    );
    if (owned.rows.length > 0) {
      const names = owned.rows.map((r) => r.name);
      const shown = names.slice(0, 5).join(", ") + (names.length > 5 ? ` and ${names.length - 5} more` : "");
      problems.push(
        `The database role "${role}" Lifeboat connects as owns ${names.length} of its tables (${shown}): ` +
          `an owner can disable or drop the audit log's append-only triggers. ${advice}`,
      );
    } else {
      const audit = await c.query<{ writable: boolean }>(
        `select to_regclass($1) is not null and (has_table_privilege(current_user, $1, 'UPDATE')
           or has_table_privilege(current_user, $1, 'DELETE') or has_table_privilege(current_user, $1, 'TRUNCATE'))
           as writable`,
        [AUDIT_TABLE],
      );
      if (audit.rows[0]?.writable)
        problems.push(
          `The database role "${role}" may UPDATE, DELETE or TRUNCATE ${AUDIT_TABLE}: grant it only INSERT and ` +
            "SELECT there (the migrations do, when run as the owner with LIFEBOAT_MIGRATION_DATABASE_URL).",
        );
    }
    return problems;
  });
}

/** Runs the start-up check and logs its warnings (a database that does not answer is reported elsewhere). */
export async function warnAboutAppRole(url: string, log: (line: string) => void): Promise<void> {
  const problems = await appRoleProblems(url).catch(() => []);
  for (const p of problems) log(`WARNING: ${p}`);
}
