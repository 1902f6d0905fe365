import fs from "node:fs";
import path from "node:path";
import { createAuth, firstAdminAccount } from "@lifeboat/auth";
import { findWorkspaceRoot, parseKey32, type ServerEnv, sealSecret, serverEnv } from "@lifeboat/config";
import { disconnectAll, getDb } from "@lifeboat/db";
import { startEmbeddedPostgres } from "@lifeboat/db/embedded";
import { ensureFirstAdmin } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { migrateCatalog } from "./catalog";
import { loadOrCreateLocalSecrets } from "./local-secrets";
import { spawnManaged, supervisedRun, waitForHttp } from "./processes";
import { type ServiceName, serviceStatusReporter } from "./service-status";
import { type SupervisedRun, type Supervisor, supervise } from "./supervisor";

/** Preloaded into each child; found from the workspace root, as the bundled launcher is not beside it. */
const ORPHAN_GUARD = "apps/cli/src/launcher/orphan-guard.cjs";
/** The worker's build output (apps/worker: `pnpm build`). */
const WORKER_ENTRY = "dist/main.mjs";
/** The web server's build output (apps/web: `pnpm build`, apps/web/server.ts). */
const WEB_ENTRY = "dist/server.mjs";

export interface RunningLifeboat {
  url: string;
  admin: { email: string; created: boolean; generatedPassword?: string };
  /** Resolves if a supervised process kept dying and was given up on, with what happened in words. */
  failed: Promise<string>;
  stop(): Promise<void>;
}

type Log = (line: string) => void;

/**
 * One-machine Lifeboat: PostgreSQL (embedded unless DATABASE_URL is set), migrations, the first admin, the
 * simulated engine when no real one is configured, one worker and the web server.
 */
export async function startLifeboat(
  vars: NodeJS.ProcessEnv,
  log: Log = (l) => process.stderr.write(`${l}\n`),
): Promise<RunningLifeboat> {
  const root = findWorkspaceRoot();
  const env = serverEnv(vars);
  fs.mkdirSync(env.dataDir, { recursive: true });
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((e) => log(`[lifeboat] while stopping: ${String(e)}`));
  };
  const services = serviceStatusReporter(log);
  const supervised: Array<{ name: ServiceName; supervisor: Supervisor }> = [];
  // Each supervised process is stopped (and no longer restarted) in the reverse order of its start.
  const superviseService = (
    name: ServiceName,
    first: SupervisedRun,
    restart: () => Promise<SupervisedRun>,
  ) => {
    const supervisor = supervise(first, { name, start: restart, onEvent: services.report });
    supervised.push({ name, supervisor });
    stops.push(() => supervisor.stop());
  };
  try {
    const secrets = loadOrCreateLocalSecrets(env.dataDir, env);
    let databaseUrl = env.DATABASE_URL;
    let ownerUrl = env.LIFEBOAT_MIGRATION_DATABASE_URL ?? databaseUrl;
    if (!databaseUrl) {
      const pgOptions = { dataDir: path.join(env.dataDir, "pg"), port: env.LIFEBOAT_EMBEDDED_PG_PORT };
      const startPg = async (): Promise<SupervisedRun> => {
        const pg = await startEmbeddedPostgres(pgOptions);
        databaseUrl = pg.url;
        ownerUrl = pg.ownerUrl;
        return pg;
      };
      superviseService("postgres", await startPg(), startPg);
      log(
        `[lifeboat] embedded PostgreSQL on 127.0.0.1:${env.LIFEBOAT_EMBEDDED_PG_PORT} (data in ${path.join(env.dataDir, "pg")})`,
      );
    }
    if (!databaseUrl) throw new Error("no database");
    // Migrations as the owner; everything else, the children included, as the app's role.
    for (const w of await migrateCatalog(databaseUrl, ownerUrl)) log(`[lifeboat] ${w}`);
    const childEnv: NodeJS.ProcessEnv = {
      ...vars,
      ...secrets,
      DATABASE_URL: databaseUrl,
      LIFEBOAT_DATA_DIR: env.dataDir,
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
    };
    const db = getDb(databaseUrl);
    services.attach(db);
    const url = env.BETTER_AUTH_URL ?? `http://localhost:${env.PORT}`;
    stops.push(async () => {
      await stopBosses();
      await disconnectAll();
    });
    const auth = createAuth({ db, secret: secrets.BETTER_AUTH_SECRET, baseURL: url });
    const admin = await ensureFirstAdmin(db, firstAdminAccount(auth), {
      email: env.LIFEBOAT_ADMIN_EMAIL,
      password: env.LIFEBOAT_ADMIN_PASSWORD,
    });
    await startSimulatedEngineIfNeeded(
      env,
      db,
      parseKey32(secrets.LIFEBOAT_ENCRYPTION_KEY, "LIFEBOAT_ENCRYPTION_KEY"),
      stops,
      log,
    );

    const orphanGuard = path.join(root, ORPHAN_GUARD);
    if (env.LIFEBOAT_EMBEDDED_WORKER) {
      const workerDir = path.join(root, "apps/worker");
      if (!fs.existsSync(path.join(workerDir, WORKER_ENTRY)))
        throw new Error("The worker is not built: run `pnpm build` (or `npm start`, which builds) first");
      const startWorker = async () =>
        supervisedRun(
          spawnManaged("worker", process.execPath, ["--require", orphanGuard, WORKER_ENTRY], {
            cwd: workerDir,
            env: childEnv,
          }),
        );
      superviseService("worker", await startWorker(), startWorker);
    }
    const webDir = path.join(root, "apps/web");
    if (!fs.existsSync(path.join(webDir, ".next", "BUILD_ID")))
      throw new Error("The web app is not built: run `pnpm build` (or `npm start`, which builds) first");
    if (!fs.existsSync(path.join(webDir, WEB_ENTRY)))
      throw new Error("The web server is not built: run `pnpm build` (or `npm start`, which builds) first");
    const startWeb = async () => {
      const web = spawnManaged(
        "web",
        process.execPath,
        // Next behind Lifeboat's edge (client addresses, security headers, body limits); PORT/HOST from env.
        ["--require", orphanGuard, WEB_ENTRY],
        { cwd: webDir, env: childEnv },
      );
      try {
        await waitForHttp(`http://127.0.0.1:${env.PORT}/login`, web, 120_000);
      } catch (e) {
        await web.stop();
        throw e;
      }
      return supervisedRun(web);
    };
    superviseService("web", await startWeb(), startWeb);
    await services.running(supervised.map((s) => s.name));
    const failed = Promise.race(
      supervised.map(({ name, supervisor }) => supervisor.gaveUp.then((reason) => `${name}: ${reason}`)),
    );
    return { url, admin, failed, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function startSimulatedEngineIfNeeded(
  env: ServerEnv,
  db: ReturnType<typeof getDb>,
  key: Buffer,
  stops: Array<() => Promise<void>>,
  log: Log,
): Promise<void> {
  if (env.LIFEBOAT_SIM === "off") return;
  const engines = await db.engine.findMany();
  const simulated = engines.find((e) => e.simulated);
  if (engines.length > 0 && !simulated?.enabled) return;
  const { startSimulator } = await import("@lifeboat/ovirt-sim");
  const sim = await startSimulator({
    dataDir: path.join(env.dataDir, "sim"),
    enginePort: env.LIFEBOAT_SIM_PORT,
    imageioPort: env.LIFEBOAT_SIM_IMAGEIO_PORT,
    seedScale: env.LIFEBOAT_SIM_SEED_SCALE,
  });
  stops.push(() => sim.stop());
  const data = {
    apiUrl: sim.engineUrl,
    username: sim.adminUser,
    secretSealed: sealSecret(sim.adminPassword, key),
    caPem: sim.caPem,
    insecure: false,
    simulated: true,
  };
  if (simulated) await db.engine.update({ where: { id: simulated.id }, data });
  else await db.engine.create({ data: { name: "Demo engine (simulated)", ...data } });
  log(`[lifeboat] simulated oVirt engine at ${sim.engineUrl}`);
}
