import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "@lifeboat/db/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lifeboatBin, repoRoot } from "./support/run-cli";

/**
 * `lifeboat start` as an operator runs it (the build, an embedded PostgreSQL, the simulated engine, a worker and
 * the web server), with its children killed the way a crash or the OOM killer would.
 */
let dataDir: string;
let launcher: ChildProcess;
let log = "";
let port: number;
let pgPort: number;
const ADMIN_PASSWORD = "launcher-test-password-1";

const waitFor = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 90_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (launcher.exitCode !== null)
      throw new Error(`lifeboat start exited while waiting for ${what}:\n${log}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${log.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  const password = fs.readFileSync(path.join(dataDir, "pg", "password"), "utf8").trim();
  const c = new pg.Client({
    connectionString: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/lifeboat`,
  });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

const signIn = () =>
  fetch(`http://127.0.0.1:${port}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: `http://127.0.0.1:${port}` },
    body: JSON.stringify({ email: "admin@lifeboat.test", password: ADMIN_PASSWORD }),
  }).then((r) => r.status);

/** system.services as a signed-in admin sees it, over HTTP. */
async function adminServiceProblems(): Promise<string[]> {
  const signedIn = await fetch(`http://127.0.0.1:${port}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: `http://127.0.0.1:${port}` },
    body: JSON.stringify({ email: "admin@lifeboat.test", password: ADMIN_PASSWORD }),
  });
  const cookie = signedIn.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const res = await fetch(`http://127.0.0.1:${port}/api/trpc/system.services`, { headers: { cookie } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { result: { data: { json: { problems: string[] } } } };
  return body.result.data.json.problems;
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-launcher-"));
  fs.chmodSync(dataDir, 0o755);
  port = await freePort();
  pgPort = await freePort();
  launcher = spawn(process.execPath, [lifeboatBin, "start"], {
    cwd: repoRoot,
    env: {
      ...process.env,
      DATABASE_URL: "",
      LIFEBOAT_DATA_DIR: dataDir,
      PORT: String(port),
      HOST: "127.0.0.1",
      BETTER_AUTH_URL: `http://127.0.0.1:${port}`,
      LIFEBOAT_ADMIN_EMAIL: "admin@lifeboat.test",
      LIFEBOAT_ADMIN_PASSWORD: ADMIN_PASSWORD,
      LIFEBOAT_AUTH_RATE_LIMIT: "off",
      LIFEBOAT_EMBEDDED_PG_PORT: String(pgPort),
      LIFEBOAT_SIM_PORT: String(await freePort()),
      LIFEBOAT_SIM_IMAGEIO_PORT: String(await freePort()),
      LIFEBOAT_SIM_SEED_SCALE: "small",
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  for (const s of [launcher.stdout, launcher.stderr])
    s?.on("data", (c: Buffer) => {
      log += c.toString();
    });
  await waitFor("Lifeboat to be ready", () => log.includes("Lifeboat is ready"), 240_000);
}, 300_000);

afterAll(async () => {
  if (launcher?.pid && launcher.exitCode === null) {
    process.kill(-launcher.pid, "SIGKILL");
    await new Promise((r) => launcher.once("exit", r));
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("lifeboat start supervises its children", () => {
  it("restarts a killed worker, says so in its log and in service_status", async () => {
    const [first] = await query<{ pid: number }>("select pid from worker_heartbeat");
    expect(first?.pid).toBeGreaterThan(0);
    process.kill(first?.pid ?? 0, "SIGKILL");
    await waitFor("the worker restart", () => log.includes("worker is running again (restart 1)"));
    expect(log).toContain("worker exited unexpectedly (signal SIGKILL); restarting it in 1 s");
    await waitFor("the new worker's heartbeat", async () => {
      const rows = await query<{ pid: number }>("select pid from worker_heartbeat");
      return rows.some((r) => r.pid !== first?.pid);
    });
    const [status] = await query<{ state: string; restarts: number; lastExitReason: string }>(
      `select state, restarts, "lastExitReason" from service_status where name = 'worker'`,
    );
    expect(status).toEqual({ state: "running", restarts: 1, lastExitReason: "signal SIGKILL" });
    // What the admins' banner on the overview reads.
    const problems = await adminServiceProblems();
    expect(problems).toContain("The worker was restarted once (last exit: signal SIGKILL).");
  });

  it("restarts a killed embedded PostgreSQL; the web server signs users in again", async () => {
    expect(await signIn()).toBe(200);
    const pidFile = path.join(dataDir, "pg", "cluster", "postmaster.pid");
    process.kill(Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]), "SIGKILL");
    await waitFor("the PostgreSQL restart", () => log.includes("postgres is running again (restart 1)"));
    expect(log).toContain("postgres exited unexpectedly (signal SIGKILL)");
    await waitFor("a sign-in after the restart", async () => (await signIn()) === 200, 60_000);
    const [status] = await query<{ state: string; restarts: number; lastExitReason: string }>(
      `select state, restarts, "lastExitReason" from service_status where name = 'postgres'`,
    );
    expect(status).toEqual({ state: "running", restarts: 1, lastExitReason: "signal SIGKILL" });
  });

  it("stops everything on SIGTERM", async () => {
    process.kill(launcher.pid ?? 0, "SIGTERM");
    const code = await new Promise<number | null>((r) => launcher.once("exit", (c) => r(c)));
    expect(code).toBe(0);
    const pgAlive = await new Promise<boolean>((resolve) => {
      const s = net.connect(pgPort, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    expect(pgAlive).toBe(false);
  });
});
