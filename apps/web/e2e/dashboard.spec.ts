import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { served, shot, signIn, withDb } from "./support";

/**
 * The dashboard's pages beyond the main journey: live job progress pushed over SSE (no reload, no polling
 * needed), Settings → Engines (fetch the CA and compare its fingerprint, test a connection with a wrong and a
 * right password — nothing saved), Settings → Repository, the catalog's sorting and empty states, and the
 * overview. Screenshots of each page go to test-results/screenshots/.
 */

test("job progress arrives live over SSE, without reloading or polling", async ({ page }) => {
  await signIn(page);
  await page.goto("/jobs");
  await expect(page.getByRole("heading", { name: "Jobs", level: 1 })).toBeVisible();
  await expect(page.getByText("Updating live.")).toBeVisible();
  await page.evaluate(() => {
    (window as unknown as { __marker: string }).__marker = "still here";
  });
  const loads: number[] = [];
  page.on("load", () => loads.push(Date.now()));
  const id = await withDb(async (c) => {
    const r = await c.query<{ id: string }>(
      `INSERT INTO job (id, type, state, phase, "startedAt", "bytesDone", "bytesTotal", rate)
       VALUES (gen_random_uuid()::text, 'repository.gc', 'running', 'collecting garbage', now(), 0, 1048576, 262144)
       RETURNING id`,
    );
    return r.rows[0]?.id ?? "";
  });
  const row = page.getByTestId("job-table").getByTestId("row").filter({ hasText: "collecting garbage" });
  await expect(row).toBeVisible();
  await expect(row.getByTestId("job-percent")).toHaveText("0 %");
  await withDb((c) => c.query(`UPDATE job SET "bytesDone" = 786432 WHERE id = $1`, [id]));
  await expect(row.getByTestId("job-percent")).toHaveText("75 %");
  await expect(row).toContainText("768 KiB of 1.0 MiB");
  await shot(page, "dashboard-jobs-live");
  await withDb((c) =>
    c.query(`UPDATE job SET state = 'succeeded', "bytesDone" = 1048576, "finishedAt" = now() WHERE id = $1`, [
      id,
    ]),
  );
  await expect(
    page.getByTestId("job-table").getByRole("link", { name: "Garbage collection" }).first(),
  ).toBeVisible();
  await expect(
    page.getByTestId("job-table").getByTestId("row").filter({ hasText: "collecting garbage" }),
  ).toHaveCount(0);
  expect(await page.evaluate(() => (window as unknown as { __marker?: string }).__marker)).toBe("still here");
  expect(loads).toEqual([]);

  await page.getByRole("link", { name: "Garbage collection" }).first().click();
  await expect(page.getByRole("heading", { name: "Garbage collection" })).toBeVisible();
  await expect(page.getByTestId("job-state").first()).toHaveText(/succeeded/);
  await shot(page, "dashboard-job");
});

test("settings: engines (fetch and confirm the CA, test a connection) and the repository", async ({
  page,
}) => {
  const env = served();
  const simUrl = `https://127.0.0.1:${env.env.LIFEBOAT_SIM_PORT}/ovirt-engine/api`;
  const caPem = fs.readFileSync(path.join(env.dataDir, "sim", "pki", "ca.pem"), "utf8");
  const simPassword = fs.readFileSync(path.join(env.dataDir, "sim", "admin-password"), "utf8").trim();
  await signIn(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
  const engines = page.getByTestId("engine-table");
  await expect(engines.getByText("Demo engine (simulated)")).toBeVisible();
  await expect(engines.getByText("simulated", { exact: true })).toBeVisible();
  await shot(page, "dashboard-settings-engines");

  await page.getByRole("button", { name: "Add engine" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Add an engine" });
  await dialog.getByLabel("Name").fill("Second engine");
  await dialog.getByLabel("Engine URL").fill(simUrl);
  await dialog.getByLabel("User").fill("admin@internal");
  await dialog.getByRole("textbox", { name: "Password" }).fill("not-the-password");
  await dialog.getByRole("button", { name: "Fetch from the engine" }).click();
  await expect(dialog.getByTestId("ca-fingerprint")).toHaveText(new X509Certificate(caPem).fingerprint256);
  await expect(dialog.getByRole("button", { name: "Use this CA" })).toBeDisabled();
  await dialog.getByLabel("The fingerprint matches the engine's").check();
  await dialog.getByRole("button", { name: "Use this CA" }).click();
  await expect(dialog.getByLabel("CA certificate (PEM)")).toHaveValue(/BEGIN CERTIFICATE/);
  await dialog.getByRole("button", { name: "Test connection" }).click();
  await expect(dialog.getByRole("alert")).toContainText("refused the user name or password");
  await dialog.getByRole("textbox", { name: "Password" }).fill(simPassword);
  await dialog.getByRole("button", { name: "Test connection" }).click();
  await expect(dialog.getByRole("status")).toContainText("Connected to oVirt 4.5.5");
  await shot(page, "dashboard-settings-engine-dialog");
  // Not saved: a second engine on the same simulator would list every VM twice.
  await dialog.getByRole("button", { name: "Close" }).click();
  await expect(engines.getByTestId("row")).toHaveCount(1);

  await page.getByRole("tab", { name: "Repository" }).click();
  await expect(page.getByText("Usage over time")).toBeVisible();
  await expect(page.getByTestId("repo-stored")).toBeVisible();
  await page.getByRole("button", { name: "Measure now" }).click();
  await expect(page.getByText(/chunks, .* stored/).first()).toBeVisible();
  await shot(page, "dashboard-settings-repository");
});

test("the catalog sorts by its column headers and says what to do when nothing matches", async ({ page }) => {
  // Two catalog rows of a VM the engine does not have (so that the other journeys never meet them).
  await withDb(async (c) => {
    const engine = await c.query<{ id: string }>("SELECT id FROM engine WHERE simulated LIMIT 1");
    const engineId = engine.rows[0]?.id;
    await c.query(
      `INSERT INTO vm (id, "engineId", "vmId", name) VALUES ('e2e-catalog-vm', $1, gen_random_uuid()::text, 'e2e-catalog-vm')
       ON CONFLICT DO NOTHING`,
      [engineId],
    );
    await c.query(
      `INSERT INTO restore_point (id, "vmId", "engineId", "vmName", "createdAt", state, ovf, "logicalBytes", "searchText")
       SELECT gen_random_uuid()::text, 'e2e-catalog-vm', $1, 'e2e-catalog-vm', now() - (g || ' hours')::interval,
              'complete', '', g * 1048576, 'e2e-catalog-vm'
       FROM generate_series(1, 2) g`,
      [engineId],
    );
  });
  await signIn(page);
  await page.goto("/restore-points");
  await expect(page.getByRole("heading", { name: "Restore points", level: 1 })).toBeVisible();
  const time = page.getByRole("columnheader", { name: "Time" });
  await expect(time).toHaveAttribute("aria-sort", "descending");
  await page.getByRole("columnheader", { name: "Size" }).getByRole("button").click();
  await expect(page).toHaveURL(/sort=largest/);
  await expect(page.getByRole("columnheader", { name: "Size" })).toHaveAttribute("aria-sort", "descending");
  await expect(page.getByLabel("Sort")).toHaveValue("largest");
  await page.getByRole("searchbox").fill("no-such-vm-anywhere-42");
  await expect(page.getByText("Nothing matches.")).toBeVisible();
  await expect(page).toHaveURL(/q=no-such-vm-anywhere-42/);
  await shot(page, "dashboard-catalog-empty");
  await page.getByRole("button", { name: "Clear search and filters" }).click();
  await expect(page.getByRole("searchbox")).toHaveValue("");
  // Keyboard: the search box is reachable and the filters follow it in order.
  await page.getByRole("searchbox").focus();
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("VM", { exact: true })).toBeFocused();
});

test("the overview shows protection, jobs, usage and what needs attention", async ({ page }) => {
  await signIn(page);
  for (const name of ["VM protection", "Jobs in the last 24 hours", "Needs attention", "Repository usage"])
    await expect(page.getByRole("heading", { name })).toBeVisible();
  await expect(page.getByTestId("engine-count")).toHaveText("1");
  await shot(page, "dashboard-overview");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "VMs" }).click();
  await expect(page.getByTestId("vm-table").getByRole("link", { name: "web01", exact: true })).toBeVisible({
    timeout: 60_000,
  });
  await page.getByLabel("Protection").selectOption("unprotected");
  await expect(page).toHaveURL(/protection=unprotected/);
  await shot(page, "dashboard-vms-unprotected");
});

test("on a phone-sized screen the navigation opens from a menu button and closes after a link", async ({
  page,
}) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page);
  const menu = page.getByRole("button", { name: "Open navigation" });
  // The sidebar is hidden at this width: the menu button is the way to the other pages.
  await expect(page.getByRole("navigation", { name: "Main" })).toBeHidden();
  await menu.click();
  const drawer = page.getByRole("dialog", { name: "Navigation" });
  await expect(drawer).toBeVisible();
  await shot(page, "dashboard-mobile-navigation");
  await page.keyboard.press("Escape");
  await expect(drawer).toBeHidden();
  await expect(menu).toBeFocused();
  await menu.click();
  await drawer.getByRole("link", { name: "Jobs" }).click();
  await expect(page).toHaveURL(/\/jobs$/);
  await expect(drawer).toBeHidden();
  await page.setViewportSize({ width: 1280, height: 800 });
  await expect(menu).toBeHidden();
  await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
});
