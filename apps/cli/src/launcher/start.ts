import fs from "node:fs";
import path from "node:path";
import { createAuth, ensureFirstAdmin, stopBosses } from "@lifeboat/api";
import { findWorkspaceRoot, parseKey32, type ServerEnv, sealSecret, serverEnv } from "@lifeboat/config";
import { disconnectAll, getDb } from "@lifeboat/db";
import { startEmbeddedPostgres } from "@lifeboat/db/embedded";
import { migrateDeploy } from "@lifeboat/db/migrate";
import { loadOrCreateLocalSecrets } from "./local-secrets";
import { type ManagedProcess, spawnManaged, waitForHttp } from "./processes";

const ORPHAN_GUARD = path.join(import.meta.dirname, "orphan-guard.cjs");

export interface RunningLifeboat {
  url: string;
  admin: { email: string; created: boolean; generatedPassword?: string };
  stop(): Promise<void>;
}

type Log = (line: string) => void;

/**
 * One-machine Lifeboat: PostgreSQL (embedded unless DATABASE_URL is set), migrations, the first admin, the
 * simulated engine when no real one is configured, one worker and the web server.
 */
export async function startLifeboat(
  log: Log = (l) => process.stderr.write(`${l}\n`),
): Promise<RunningLifeboat> {
  const root = findWorkspaceRoot();
  const env = serverEnv();
  fs.mkdirSync(env.dataDir, { recursive: true });
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((e) => log(`[lifeboat] while stopping: ${String(e)}`));
  };
  try {
    const secrets = loadOrCreateLocalSecrets(env.dataDir);
    let databaseUrl = env.DATABASE_URL;
    if (!databaseUrl) {
      const pg = await startEmbeddedPostgres({
        dataDir: path.join(env.dataDir, "pg"),
        port: env.LIFEBOAT_EMBEDDED_PG_PORT,
      });
      stops.push(() => pg.stop());
      databaseUrl = pg.url;
      log(
        `[lifeboat] embedded PostgreSQL on 127.0.0.1:${env.LIFEBOAT_EMBEDDED_PG_PORT} (data in ${path.join(env.dataDir, "pg")})`,
      );
    }
    await migrateDeploy(databaseUrl);
    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      ...secrets,
      DATABASE_URL: databaseUrl,
      LIFEBOAT_DATA_DIR: env.dataDir,
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
    };
    const db = getDb(databaseUrl);
    const url = env.BETTER_AUTH_URL ?? `http://localhost:${env.PORT}`;
    stops.push(async () => {
      await stopBosses();
      await disconnectAll();
    });
    const auth = createAuth({ db, secret: secrets.BETTER_AUTH_SECRET, baseURL: url });
    const admin = await ensureFirstAdmin(auth, db, {
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

    const children: ManagedProcess[] = [];
    stops.push(async () => {
      await Promise.all(children.map((c) => c.stop()));
    });
    if (env.LIFEBOAT_EMBEDDED_WORKER) {
      children.push(
        spawnManaged(
          "worker",
          process.execPath,
          ["--require", ORPHAN_GUARD, "--import", "tsx", "src/main.ts"],
          {
            cwd: path.join(root, "apps/worker"),
            env: childEnv,
          },
        ),
      );
    }
    const webDir = path.join(root, "apps/web");
    if (!fs.existsSync(path.join(webDir, ".next", "BUILD_ID")))
      throw new Error("The web app is not built: run `pnpm build` (or `npm start`, which builds) first");
    // server.ts: Next behind Lifeboat's edge (client addresses, security headers, body limits).
    const web = spawnManaged(
      "web",
      process.execPath,
      ["--require", ORPHAN_GUARD, "--import", "tsx", "server.ts"],
      {
        cwd: webDir,
        env: childEnv,
      },
    );
    children.push(web);
    await waitForHttp(`http://127.0.0.1:${env.PORT}/login`, web, 120_000);
    return { url, admin, stop };
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
