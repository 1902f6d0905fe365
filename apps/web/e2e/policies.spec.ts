import { expect, test } from "@playwright/test";
import { ADMIN, apiSignIn, baseURL, newPerson, signedInPage, trpc, withDb } from "./support";

/**
 * Protection policies in the browser: a team admin creates a policy (schedule in words and next runs as they
 * type), it exists only after another approver approves it, its page shows the schedule, retention and the
 * prune preview — which points go and which rule keeps each of the rest — and pinning a point keeps it.
 */

/** A VM of the team in the inventory (owned through a rule, as the team's rules would give it). */
async function teamVm(teamId: string, name: string): Promise<string> {
  return withDb(async (c) => {
    const engine = await c.query<{ id: string }>('select id from engine order by "createdAt" limit 1');
    const engineId = engine.rows[0]?.id;
    if (!engineId) throw new Error("no engine registered");
    const vm = await c.query<{ id: string }>(
      `insert into vm (id, "engineId", "vmId", name, status) values (gen_random_uuid()::text, $1, gen_random_uuid()::text, $2, 'up') returning id`,
      [engineId, name],
    );
    const vmId = vm.rows[0]!.id;
    await c.query(
      `insert into team_vm_rule (id, "teamId", kind, "engineId", "vmId", "createdAt") values (gen_random_uuid()::text, $1, 'vm', $2, $3, now())`,
      [teamId, engineId, vmId],
    );
    await c.query(`insert into vm_team ("vmId", "teamId") values ($1, $2)`, [vmId, teamId]);
    return vmId;
  });
}

/** Complete restore points the policy made of the VM (what its backups would have recorded). */
async function policyPoints(policyId: string, vmId: string, times: string[]): Promise<string[]> {
  return withDb(async (c) => {
    const vm = await c.query<{ engineId: string; name: string }>(
      'select "engineId", name from vm where id = $1',
      [vmId],
    );
    const ids: string[] = [];
    for (const t of times) {
      const r = await c.query<{ id: string }>(
        `insert into restore_point (id, "vmId", "engineId", "vmName", "createdAt", state, ovf, "policyId", description)
         values (gen_random_uuid()::text, $1, $2, $3, $4, 'complete', '<ovf/>', $5, $6) returning id`,
        [vmId, vm.rows[0]!.engineId, vm.rows[0]!.name, t, policyId, `backup of ${t}`],
      );
      ids.push(r.rows[0]!.id);
    }
    return ids;
  });
}

test("a policy exists only after another approver approves it, and its page previews the prune", async ({
  browser,
}) => {
  const adminCtx = await browser.newContext({ baseURL });
  const admin = adminCtx.request;
  await apiSignIn(admin, ADMIN.email, ADMIN.password);
  const tara = await newPerson(browser, admin, "Tara Teamadmin", "ptara");
  const abe = await newPerson(browser, admin, "Abe Approver", "pabe");
  const team = await trpc<{ id: string }>(admin, "teams.create", {
    name: "Payments",
    adminEmail: tara.email,
  });
  await trpc(admin, "teams.addMember", { teamId: team.id, email: abe.email, role: "approver" });
  const vmId = await teamVm(team.id, `e2e-pay-${Date.now()}`);

  // 1. The team admin fills in the policy; the schedule reads back in words with its next runs.
  const page = await signedInPage(browser, tara);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Policies" }).click();
  await expect(page.getByText("No policies yet.")).toBeVisible();
  await page.getByRole("link", { name: "New policy" }).click();
  await page.getByLabel("Name").fill("Nightly payments");
  await page.getByRole("list", { name: "Team VMs" }).getByRole("checkbox").first().check();
  await page.getByLabel("Schedule (cron)").fill("30 2 * * 1-5");
  await page.getByLabel("Time zone").fill("Europe/Berlin");
  await expect(page.getByTestId("policy-schedule-preview-words")).toHaveText(
    "At 02:30, Monday through Friday (Europe/Berlin)",
  );
  await expect(
    page.getByRole("list", { name: "Next runs of 30 2 * * 1-5" }).getByRole("listitem"),
  ).toHaveCount(5);
  await page.getByLabel("Schedule (cron)").fill("30 2 * *");
  await expect(page.getByText(/has 4 field\(s\)/)).toBeVisible();
  await page.getByLabel("Schedule (cron)").fill("30 2 * * 1-5");
  await page.getByLabel("Daily").fill("2");
  await page.getByLabel("Weekly").fill("1");
  await page.getByLabel("Monthly").fill("0");
  // Auto (incremental where the engine allows), with a full backup after 6 incrementals.
  await expect(page.getByLabel("Backup mode")).toHaveValue("auto");
  await page.getByLabel("Full backup after (incrementals)").fill("6");
  await page
    .getByLabel("Why (the approver reads this)")
    .fill("Payments need nightly backups (audit finding 12)");
  await page.screenshot({ path: "test-results/screenshots/policy-form.png", fullPage: true });
  await page.getByRole("button", { name: "Ask for approval" }).click();
  await expect(page.getByText("Sent for approval")).toBeVisible();
  // Not there yet.
  await expect(page.getByText("No policies yet.")).toBeVisible();

  // 2. Another approver approves.
  const decider = await signedInPage(browser, abe);
  await decider.goto("/approvals");
  const card = decider.getByTestId("approval-card").filter({ hasText: "Create policy Nightly payments" });
  await expect(card).toContainText("keep 2 daily, 1 weekly");
  await expect(card).toContainText("a full backup after 6 incrementals");
  await card.getByRole("button", { name: "Approve" }).click();
  const dialog = decider.getByRole("dialog", { name: "Approve this request" });
  await dialog.getByLabel("Your comment (required)").fill("Agreed");
  await dialog.getByRole("button", { name: "Approve" }).click();
  await expect(decider.getByText("Approved", { exact: true })).toBeVisible();

  // 3. The policy is listed and shows its schedule, retention and next runs.
  await page.reload();
  const row = page.getByRole("row").filter({ hasText: "Nightly payments" });
  await expect(row).toContainText("At 02:30, Monday through Friday (Europe/Berlin)");
  await expect(row).toContainText("keep 2 daily, 1 weekly");
  await row.getByRole("link", { name: "Nightly payments" }).click();
  await expect(page.getByRole("heading", { name: "Nightly payments" })).toBeVisible();
  await expect(page.getByTestId("schedule-words")).toHaveText(
    "At 02:30, Monday through Friday (Europe/Berlin)",
  );
  await expect(page.getByRole("list", { name: "Next runs" }).getByRole("listitem")).toHaveCount(5);
  await expect(page.getByTestId("backup-mode-words")).toHaveText(
    "incremental where the engine allows, a full backup after 6 incrementals or every 30 days",
  );

  // 4. The prune preview: two points of one Berlin day (the older goes), a day, a week, one beyond retention.
  const policyId = page.url().split("/").at(-1)!;
  await policyPoints(policyId, vmId, [
    "2026-05-13T00:30:00Z",
    "2026-05-12T22:30:00Z", // same Berlin day (13 May, 00:30 CEST) as the newest
    "2026-05-06T00:30:00Z",
    "2026-04-29T00:30:00Z",
    "2026-04-22T00:30:00Z",
  ]);
  await page.reload();
  const preview = page.getByRole("table", { name: /^Prune preview for / });
  await expect(preview.locator('tr[data-decision="keep"]')).toHaveCount(3);
  await expect(preview.locator('tr[data-decision="remove"]')).toHaveCount(2);
  await expect(preview).toContainText("kept: daily (2026-05-13)");
  await expect(preview).toContainText("kept: daily (2026-05-06)");
  await expect(preview).toContainText("kept: weekly (2026-W18)");
  await expect(preview).toContainText("goes: a newer restore point of 2026-05-13 is kept (daily)");
  await expect(preview).toContainText("goes: beyond retention");
  await page.screenshot({ path: "test-results/screenshots/policy-prune-preview.png", fullPage: true });

  // 5. Pinning the oldest keeps it.
  const oldestRow = preview.locator("tr", { hasText: "goes: beyond retention" });
  await oldestRow.getByRole("button", { name: "Pin" }).click();
  await expect(page.getByText("Pinned: retention will keep it")).toBeVisible();
  await expect(preview).toContainText("kept: pinned");
  await expect(preview.locator('tr[data-decision="remove"]')).toHaveCount(1);
  await adminCtx.close();
});
