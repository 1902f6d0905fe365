// Starts the real product for the e2e suite: `lifeboat start` on a throw-away data dir with an embedded
// PostgreSQL and the simulated engine (never a developer's DATABASE_URL), removed again on exit.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const port = process.argv[2] ?? "3100";
const root = path.resolve(import.meta.dirname, "../../..");
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-e2e-"));
fs.chmodSync(dataDir, 0o755);
const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
const env = {
  ...process.env,
  DATABASE_URL: "",
  LIFEBOAT_DATA_DIR: dataDir,
  PORT: port,
  HOST: "127.0.0.1",
  BETTER_AUTH_URL: `http://127.0.0.1:${port}`,
  LIFEBOAT_ADMIN_EMAIL: "admin@lifeboat.test",
  LIFEBOAT_ADMIN_PASSWORD: "e2e-admin-password",
  LIFEBOAT_AUTH_RATE_LIMIT: "off",
  LIFEBOAT_EMBEDDED_PG_PORT: String(await freePort()),
  LIFEBOAT_SIM_PORT: String(await freePort()),
  LIFEBOAT_SIM_IMAGEIO_PORT: String(await freePort()),
  LIFEBOAT_SIM_SEED_SCALE: "small",
};
fs.writeFileSync(path.join(import.meta.dirname, ".e2e-env.json"), JSON.stringify({ dataDir, env }, null, 2));
const child = spawn(process.execPath, ["apps/cli/dist/lifeboat.mjs", "start"], {
  cwd: root,
  env,
  stdio: "inherit",
});
const cleanup = () => fs.rmSync(dataDir, { recursive: true, force: true });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code) => {
  cleanup();
  process.exit(code ?? 0);
});
