import { type ChildProcess, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { shot, signIn } from "./support";

/**
 * Disaster recovery at another site, in the browser: a second oVirt engine (a second simulator, started here)
 * is registered in Settings with its CA fetched and confirmed, and a restore point of the first engine's web01
 * is restored onto it through the wizard's engine picker. Runs last (it adds an engine to the shared server).
 */

const TAG = `site-${Date.now().toString(36)}`;
const RESTORED = `web01-${TAG}`;
const root = path.resolve(import.meta.dirname, "../../..");

interface SiteB {
  url: string;
  password: string;
  caPem: string;
  process: ChildProcess;
  dataDir: string;
}
let site: SiteB | undefined;

/** `lifeboat sim` on free ports with the small seed; resolves once it printed its URL and credentials. */
async function startSiteB(): Promise<SiteB> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-site-b-"));
  const child = spawn(
    process.execPath,
    [
      "apps/cli/dist/lifeboat.mjs",
      "sim",
      "--data",
      dataDir,
      "--port",
      "0",
      "--imageio-port",
      "0",
      "--proxy-port",
      "0",
      "--seed-scale",
      "small",
    ],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`site B did not start:\n${out}`)), 90_000);
    // The details go to stdout, the "[sim] ready" line to stderr.
    const read = (d: Buffer) => {
      out += String(d);
      if (out.includes("[sim] ready") && out.includes("CA file:")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", read);
    child.stderr?.on("data", read);
    child.on("exit", (code) => reject(new Error(`site B exited (${code}):\n${out}`)));
  });
  try {
    await started;
  } catch (e) {
    // Nothing of a failed start may outlive the test.
    child.kill("SIGKILL");
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const field = (name: string) => out.match(new RegExp(`${name}:\\s+(\\S+)`))?.[1] ?? "";
  return {
    url: field("Engine URL"),
    password: field("Password"),
    caPem: fs.readFileSync(field("CA file"), "utf8"),
    process: child,
    dataDir,
  };
}

test.afterAll(async () => {
  if (!site) return;
  const exited = new Promise((r) => site?.process.once("exit", r));
  site.process.kill("SIGINT");
  await exited;
  fs.rmSync(site.dataDir, { recursive: true, force: true });
});

test("a restore point of one engine is restored onto a second engine picked in the wizard", async ({
  page,
}) => {
  test.setTimeout(300_000);
  site = await startSiteB();
  const nav = () => page.getByRole("navigation", { name: "Main" });

  await signIn(page);

  // A restore point of web01 on the demo engine (before site B exists, so the name is unambiguous).
  await nav().getByRole("link", { name: "VMs" }).click();
  await page.getByRole("button", { name: "Back up web01 now" }).click();
  const backup = page.getByRole("dialog", { name: "Back up web01" });
  await backup.getByLabel("Tags (optional, comma separated)").fill(TAG);
  await backup.getByRole("button", { name: "Back up now" }).click();
  await page.getByRole("link", { name: "Follow its progress" }).click();
  await expect(page.getByTestId("job-state").first()).toHaveText(/succeeded/, { timeout: 120_000 });

  // Site B registered in Settings, its CA fetched and confirmed.
  await nav().getByRole("link", { name: "Settings" }).click();
  await page.getByRole("button", { name: "Add engine" }).first().click();
  const add = page.getByRole("dialog", { name: "Add an engine" });
  await add.getByLabel("Name").fill("Site B");
  await add.getByLabel("Engine URL").fill(site.url);
  await add.getByLabel("User").fill("admin@internal");
  await add.getByRole("textbox", { name: "Password" }).fill(site.password);
  await add.getByRole("button", { name: "Fetch from the engine" }).click();
  // The fetched CA is site B's own: its fingerprint is the one in site B's data folder.
  await expect(add.getByTestId("ca-fingerprint")).toHaveText(new X509Certificate(site.caPem).fingerprint256);
  await add.getByLabel("The fingerprint matches the engine's").check();
  await add.getByRole("button", { name: "Use this CA" }).click();
  await expect(add.getByLabel("CA certificate (PEM)")).toHaveValue(/BEGIN CERTIFICATE/);
  await add.getByRole("button", { name: "Add engine" }).click();
  await expect(add).toBeHidden();
  await expect(page.getByTestId("engine-table").getByTestId("row")).toHaveCount(2);

  // The restore point, restored at site B.
  await nav().getByRole("link", { name: "Restore points" }).click();
  await page.getByRole("searchbox").fill(TAG);
  await expect(page.getByTestId("catalog-table").getByTestId("row")).toHaveCount(1);
  await page.getByTestId("catalog-table").getByTestId("restore-point-link").click();
  await page.getByRole("link", { name: "Restore…" }).click();
  await page.getByRole("button", { name: "Next" }).click();
  const engine = page.getByLabel("Engine", { exact: true });
  await expect(engine).toContainText("backed up from here");
  await engine.selectOption({ label: "Site B" });
  await expect(page.getByText(/Restoring to another engine/)).toBeVisible();
  await expect(page.getByLabel("Cluster")).toContainText("Default");
  await expect(page.getByLabel("Storage domain")).toContainText("data1");
  await page.getByLabel("Name of the new VM").fill(RESTORED);
  await expect(page.getByTestId("name-free")).toHaveText("The name is free on Site B.");
  await shot(page, "site-restore-wizard-where");
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.getByTestId("summary-engine")).toHaveText(/^Site B \(backed up from .+\)$/);
  await page.getByRole("button", { name: "Restore the VM" }).click();
  await page.getByRole("link", { name: "Follow the restore" }).click();
  await expect(page.getByTestId("job-state").first()).toHaveText(/succeeded/, { timeout: 180_000 });

  // The new VM is in site B's inventory, and only there.
  await nav().getByRole("link", { name: "VMs" }).click();
  const row = page.getByTestId("vm-table").getByRole("row").filter({ hasText: RESTORED });
  await expect(async () => {
    await page.getByRole("button", { name: /Refresh from engines/ }).click();
    await expect(row).toHaveCount(1, { timeout: 3_000 });
  }).toPass({ timeout: 60_000, intervals: [1_000, 5_000] });
  await expect(row).toContainText("Site B");
  await shot(page, "site-restore-vms");
});
