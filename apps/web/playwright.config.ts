import { defineConfig } from "@playwright/test";

const port = Number(process.env.E2E_PORT ?? 3100);

/**
 * End-to-end tests drive Debian's Chromium (no browser download) against the real product started by
 * e2e/serve.mjs: `lifeboat start` on a throw-away data dir (embedded PostgreSQL + simulated engine).
 */
export default defineConfig({
  testDir: "./e2e",
  workers: 1,
  timeout: 120_000,
  expect: { timeout: 20_000 },
  reporter: [["list"]],
  outputDir: "./test-results",
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    browserName: "chromium",
    headless: true,
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    command: `node e2e/serve.mjs ${port}`,
    url: `http://127.0.0.1:${port}/login`,
    reuseExistingServer: false,
    // SIGTERM lets the launcher stop the web server, worker, simulator and PostgreSQL in order (SIGKILL would
    // orphan them).
    gracefulShutdown: { signal: "SIGTERM", timeout: 30_000 },
    timeout: 300_000,
    stdout: "pipe",
    stderr: "pipe",
  },
});
