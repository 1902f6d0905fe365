import fs from "node:fs";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { SHOTS, shot, signIn } from "./support";

/**
 * The whole journey of an operator on the embedded defaults (simulated engine, small seed): sign in → see the
 * demo VMs → back up one → watch its progress reach 100 % → find its restore point through search → restore it
 * as a new VM → the new VM shows up in the inventory read from the engine → download a disk image of the
 * restore point and check its size. A screenshot of every page goes to test-results/screenshots/.
 */

const TAG = `journey-${Date.now().toString(36)}`;
const RESTORED = `web01-${TAG}`;

test.describe.configure({ mode: "serial" });

test("sign in, back up a demo VM, find it, restore it as a new VM, download a disk image", async ({
  page,
}) => {
  test.setTimeout(300_000);
  await signIn(page);
  await shot(page, "journey-01-overview");

  // The demo VMs, read from the simulated engine.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "VMs" }).click();
  await expect(page.getByRole("heading", { name: "VMs", level: 1 })).toBeVisible();
  const table = page.getByTestId("vm-table");
  await expect(table.getByRole("link", { name: "web01", exact: true })).toBeVisible({ timeout: 60_000 });
  await expect(table.getByRole("link", { name: "db01", exact: true })).toBeVisible();
  await shot(page, "journey-02-vms");

  // Back up web01 now.
  await page.getByRole("button", { name: "Back up web01 now" }).click();
  const dialog = page.getByRole("dialog", { name: "Back up web01" });
  await dialog.getByLabel("Description (optional)").fill(`e2e journey ${TAG}`);
  await dialog.getByLabel("Tags (optional, comma separated)").fill(`${TAG}, e2e`);
  await shot(page, "journey-03-backup-dialog");
  await dialog.getByRole("button", { name: "Back up now" }).click();
  await expect(dialog).toBeHidden();

  // Its progress, live on the job page, reaches 100 %.
  await page.getByRole("link", { name: "Follow its progress" }).click();
  await expect(page.getByRole("heading", { name: "Backup of web01" })).toBeVisible();
  const loads: number[] = [];
  page.on("load", () => loads.push(Date.now()));
  await expect(page.getByTestId("job-percent").first()).toHaveText("100 %", { timeout: 120_000 });
  await expect(page.getByTestId("job-state").first()).toHaveText(/succeeded/);
  expect(loads, "the progress moved without reloading the page").toEqual([]);
  await expect(page.getByText("snapshot", { exact: false }).first()).toBeVisible();
  // "Back up now" asks for auto; the engine's answer decides the mode taken.
  await expect(page.getByTestId("job-backup-mode")).toHaveText("auto");
  await shot(page, "journey-04-backup-job");

  // Find the restore point through search.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Restore points" }).click();
  await page.getByRole("searchbox").fill(TAG);
  const results = page.getByTestId("catalog-table");
  await expect(results.getByTestId("row")).toHaveCount(1);
  await expect(results.getByText("web01", { exact: true })).toBeVisible();
  // The mode the backup took (full through the backup API, or the snapshot chain) is shown and filtered on.
  const mode = ((await results.getByTestId("backup-mode").textContent()) ?? "").trim();
  expect(["full", "snapshot chain"]).toContain(mode);
  const modeFilter = page.getByLabel("Mode", { exact: true });
  await modeFilter.selectOption({ label: mode === "full" ? "Snapshot chain" : "Full" });
  await expect(results.getByTestId("row")).toHaveCount(0);
  await modeFilter.selectOption({ label: mode === "full" ? "Full" : "Snapshot chain" });
  await expect(results.getByTestId("row")).toHaveCount(1);
  await shot(page, "journey-05-catalog-search");
  await results.getByTestId("restore-point-link").click();
  await expect(page.getByRole("heading", { name: /^web01 · / })).toBeVisible();
  await expect(page.getByTestId("layer-chain").first()).toBeVisible();
  await expect(page.getByTestId("backup-mode").first()).toHaveText(mode);
  await shot(page, "journey-06-restore-point");
  const pointUrl = page.url();

  // Restore it as a new VM through the wizard.
  await page.getByRole("link", { name: "Restore…" }).click();
  await expect(page.getByRole("heading", { name: "Restore web01" })).toBeVisible();
  await expect(page.getByRole("radio", { name: /A new VM/ })).toBeChecked();
  await shot(page, "journey-07-wizard-target");
  await page.getByRole("button", { name: "Next" }).click();
  // The engine picker defaults to the engine the VM was backed up from.
  await expect(page.getByLabel("Engine", { exact: true })).toContainText("backed up from here");
  await expect(page.getByLabel("Cluster")).toContainText("Default");
  await expect(page.getByLabel("Storage domain")).toContainText("data1");
  await page.getByLabel("Name of the new VM").fill(RESTORED);
  await expect(page.getByTestId("name-free")).toBeVisible();
  await shot(page, "journey-08-wizard-where");
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.getByTestId("summary-name")).toHaveText(RESTORED);
  await expect(page.getByTestId("summary-engine")).not.toContainText("backed up from");
  await shot(page, "journey-09-wizard-summary");
  await page.getByRole("button", { name: "Restore the VM" }).click();
  await expect(page.getByText("The restore is queued.")).toBeVisible();
  await page.getByRole("link", { name: "Follow the restore" }).click();
  await expect(page.getByRole("heading", { name: "Restore VM of web01" })).toBeVisible();
  await expect(page.getByTestId("job-state").first()).toHaveText(/succeeded/, { timeout: 180_000 });
  await shot(page, "journey-10-restore-job");

  // The new VM is on the engine: the app's inventory refresh reads it.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "VMs" }).click();
  await expect(async () => {
    await page.getByRole("button", { name: /Refresh from engines/ }).click();
    await expect(page.getByTestId("vm-table").getByRole("link", { name: RESTORED, exact: true })).toBeVisible(
      {
        timeout: 3_000,
      },
    );
  }).toPass({ timeout: 60_000, intervals: [1_000, 5_000] });
  await shot(page, "journey-11-vms-with-restored");

  // Download a disk image of the restore point and check its size.
  await page.goto(pointUrl);
  const diskSize = Number(
    (
      await page
        .getByText(/^\d+(\.\d)? (MiB|GiB) · /)
        .first()
        .textContent()
    )?.match(/^(\d+)/)?.[1] ?? "0",
  );
  const download = page.waitForEvent("download");
  await page.getByTestId("download-raw").first().click();
  const file = await download;
  const saved = path.join(SHOTS, "..", `web01-${TAG}.img`);
  await file.saveAs(saved);
  const size = fs.statSync(saved).size;
  expect(size).toBe(diskSize * 1024 * 1024);
  expect(file.suggestedFilename()).toMatch(/^web01_web01_Disk1_[0-9-]+\.img$/);
  fs.rmSync(saved, { force: true });
  await shot(page, "journey-12-download");

  // The jobs page lists both jobs.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs" }).click();
  await expect(
    page.getByTestId("job-table").getByRole("link", { name: "Backup · web01" }).first(),
  ).toBeVisible();
  await expect(
    page.getByTestId("job-table").getByRole("link", { name: "Restore VM · web01" }).first(),
  ).toBeVisible();
  await shot(page, "journey-13-jobs");

  // And the overview counts web01 as protected now.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Overview" }).click();
  await expect(page.getByTestId("vms-protected")).toHaveText(/^[1-9]\d*$/);
  await shot(page, "journey-14-overview-after");
});
