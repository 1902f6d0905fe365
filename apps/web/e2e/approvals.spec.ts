import fs from "node:fs";
import path from "node:path";
import { type APIRequestContext, expect, type Page, test } from "@playwright/test";
import { ADMIN, apiSignIn, baseURL, newPerson, served, signedInPage, trpc, withDb } from "./support";

/**
 * Four eyes, end to end: a team member asks for an operation that needs approval, another member with the
 * approver role approves it in the inbox, the operation runs, and the audit log shows each step.
 *
 * The request kinds are steps in REQUESTS: today "team.assignment" (a team admin asks for the team's VMs). The
 * restore variant ("an operator requests a restore over an existing VM") is one more entry there, with its
 * check in RESULTS, once restores exist — the rest of the test stays as it is.
 */

/**
 * A VM for the team to own, named for the rule under test: recorded in the inventory under the simulated
 * engine (the inventory refresh keeps rows of VMs it does not list, marking them gone).
 */
async function inventoryVm(namePrefix: string): Promise<string> {
  return withDb(async (client) => {
    const existing = await client.query<{ name: string }>("select name from vm where name ilike $1 limit 1", [
      `${namePrefix}%`,
    ]);
    if (existing.rows[0]) return existing.rows[0].name;
    const engine = await client.query<{ id: string }>('select id from engine order by "createdAt" limit 1');
    const engineId = engine.rows[0]?.id;
    if (!engineId) throw new Error("no engine registered");
    const name = `${namePrefix}01`;
    await client.query(
      `insert into vm (id, "engineId", "vmId", name, status) values (gen_random_uuid()::text, $1, gen_random_uuid()::text, $2, 'up')`,
      [engineId, name],
    );
    return name;
  });
}

/** Calls a tRPC query over HTTP as the signed-in user of `request`. */
async function trpcQuery<T>(request: APIRequestContext, procedure: string, input: unknown): Promise<T> {
  const res = await request.get(
    `/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`,
  );
  const body = (await res.json()) as {
    result?: { data: { json: T } };
    error?: { json: { message: string } };
  };
  if (!res.ok() || !body.result) throw new Error(`${procedure}: ${body.error?.json.message ?? res.status()}`);
  return body.result.data.json;
}

/**
 * Gives the team one VM of the simulated engine (a "vm" rule and the ownership it implies, written directly: the
 * inventory refresh does not exist yet). Returns the catalog VM id.
 */
async function ownSimVm(teamId: string, vmName: string): Promise<string> {
  const env = served();
  const state = JSON.parse(fs.readFileSync(path.join(env.dataDir, "sim", "state.json"), "utf8")) as {
    vms: Array<{ id: string; name: string }>;
  };
  const simVm = state.vms.find((v) => v.name === vmName);
  if (!simVm) throw new Error(`the simulated engine has no VM ${vmName}`);
  return withDb(async (client) => {
    const engine = await client.query<{ id: string }>("select id from engine where simulated limit 1");
    const engineId = engine.rows[0]?.id;
    if (!engineId) throw new Error("the simulated engine is not registered");
    const vm = await client.query<{ id: string }>(
      `insert into vm (id, "engineId", "vmId", name) values (gen_random_uuid()::text, $1, $2, $3)
       on conflict ("engineId", "vmId") do update set name = excluded.name returning id`,
      [engineId, simVm.id, simVm.name],
    );
    const id = vm.rows[0]?.id as string;
    await client.query(
      `insert into team_vm_rule (id, "teamId", kind, "engineId", "vmId") values (gen_random_uuid()::text, $1, 'vm', $2, $3)`,
      [teamId, engineId, simVm.id],
    );
    await client.query(`insert into vm_team ("vmId", "teamId") values ($1, $2) on conflict do nothing`, [
      id,
      teamId,
    ]);
    return id;
  });
}

async function waitForJob(
  request: APIRequestContext,
  jobId: string,
): Promise<{
  state: string;
  error: string | null;
  result: Record<string, unknown> | null;
  restorePointId: string | null;
}> {
  for (let i = 0; i < 240; i++) {
    const job = await trpcQuery<{
      state: string;
      error: string | null;
      result: Record<string, unknown> | null;
      restorePointId: string | null;
    }>(request, "jobs.get", { id: jobId });
    if (["succeeded", "failed", "cancelled"].includes(job.state)) return job;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`job ${jobId} did not finish`);
}

type Kind = "team.assignment" | "restore.vm";

/** The team each variant creates (team names are unique). */
const TEAM_NAME: Record<Kind, string> = { "team.assignment": "Shop", "restore.vm": "Records" };

/** What the audit log shows for each variant, in order, and who did it. */
const AUDIT_STEPS: Record<Kind, Array<[string, "requester" | "approver"]>> = {
  "team.assignment": [
    ["teams.requestVmRuleChange", "requester"],
    ["approval.requested", "requester"],
    ["approvals.approve", "approver"],
    ["approval.executed", "approver"],
  ],
  "restore.vm": [
    ["restores.start", "requester"],
    ["approval.requested", "requester"],
    ["approvals.approve", "approver"],
    ["approval.executed", "approver"],
    ["job.succeeded", "requester"],
  ],
};

/** How each kind of request is made in the UI, by whom; returns the summary approvers will see. */
const REQUESTS: Record<Kind, (page: Page, ctx: { teamId: string; vmName: string }) => Promise<RegExp>> = {
  async "team.assignment"(page, { teamId }) {
    await page.goto(`/teams/${teamId}`);
    await page.getByRole("button", { name: "Ask for VMs" }).click();
    const dialog = page.getByRole("dialog", { name: "Ask for VMs" });
    await dialog.getByLabel("The team gets").selectOption("name-pattern");
    await dialog.getByLabel("Name pattern").fill("e2e-shop-*");
    await dialog
      .getByLabel("Why (the approver reads this)")
      .fill("The shop VMs moved to our team (ticket 4711)");
    await dialog.getByRole("button", { name: "Ask for approval" }).click();
    await expect(page.getByText("Sent for approval")).toBeVisible();
    return /Give team Shop every VM whose name matches "e2e-shop-\*"/;
  },
  // Through the API: the restore page comes with the catalog pages. The team owns db01 (a VM that is down) and
  // backs it up first; restoring it under its own name replaces the existing VM, which needs an approval.
  async "restore.vm"(page, { teamId }) {
    const vmId = await ownSimVm(teamId, "db01");
    const backup = await trpc<{ jobId: string }>(page.request, "backups.start", { vmId });
    const done = await waitForJob(page.request, backup.jobId);
    expect(done.state, done.error ?? "").toBe("succeeded");
    const started = await trpc<{ status: string }>(page.request, "restores.start", {
      restorePointId: done.restorePointId,
      name: "db01",
      replaceExisting: true,
      reason: "db01 lost its data after a bad upgrade (ticket 4711)",
    });
    expect(started.status).toBe("pending-approval");
    return /Restore db01 .*REPLACING the existing VM "db01"/;
  },
};

/** What proves that the approved operation ran. */
const RESULTS: Record<Kind, (page: Page, ctx: { teamId: string; vmName: string }) => Promise<void>> = {
  async "team.assignment"(page, { teamId, vmName }) {
    await page.goto(`/teams/${teamId}`);
    await expect(page.getByRole("table", { name: "VMs of the team" })).toContainText(vmName);
    await expect(page.getByRole("list", { name: "VM rules" })).toContainText('"e2e-shop-*"');
  },
  async "restore.vm"(page) {
    const jobs = await trpcQuery<{ items: Array<{ id: string }> }>(page.request, "jobs.list", {
      type: ["restore.vm"],
      limit: 1,
    });
    const jobId = jobs.items[0]?.id;
    if (!jobId) throw new Error("no restore job was queued");
    const job = await waitForJob(page.request, jobId);
    expect(job.state, job.error ?? "").toBe("succeeded");
    expect(job.result).toMatchObject({ name: "db01", replacedVm: { name: "db01" } });
  },
};

for (const kind of Object.keys(REQUESTS) as Kind[]) {
  test(`a ${kind} request runs only after another approver approves it, and the audit log shows each step`, async ({
    browser,
  }) => {
    // The restore variant backs a VM up and restores it on the simulated engine first.
    if (kind === "restore.vm") test.setTimeout(300_000);
    const adminCtx = await browser.newContext({ baseURL });
    const admin = adminCtx.request;
    await apiSignIn(admin, ADMIN.email, ADMIN.password);
    const requester = await newPerson(browser, admin, "Tara Teamadmin", "tara");
    const approver = await newPerson(browser, admin, "Abe Approver", "abe");
    const team = await trpc<{ id: string }>(admin, "teams.create", {
      name: TEAM_NAME[kind],
      adminEmail: requester.email,
    });
    await trpc(admin, "teams.addMember", { teamId: team.id, email: approver.email, role: "approver" });
    const vmName = await inventoryVm("e2e-shop-");
    const ctx = { teamId: team.id, vmName };

    // 1. The request.
    const asker = await signedInPage(browser, requester);
    const summary = await REQUESTS[kind](asker, ctx);
    await asker.screenshot({ path: `test-results/screenshots/${kind}-requested.png`, fullPage: true });
    // Nothing ran yet, and the requester cannot decide their own request.
    await asker.goto("/approvals");
    await expect(asker.getByText("Nothing waits for your decision.")).toBeVisible();
    await asker.getByRole("tab", { name: "My requests" }).click();
    const own = asker.getByTestId("approval-card").filter({ hasText: summary });
    await expect(own).toContainText("pending");
    await expect(own.getByRole("button", { name: "Approve" })).toHaveCount(0);

    // 2. The approver sees it waiting, in the navigation and in the inbox, and approves with a comment.
    const decider = await signedInPage(browser, approver);
    await expect(decider.getByTestId("approvals-badge")).toHaveText(/1/);
    await decider
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: /Approvals/ })
      .click();
    const card = decider.getByTestId("approval-card").filter({ hasText: summary });
    await expect(card).toContainText(`Tara Teamadmin <${requester.email}>`);
    await expect(card).toContainText("ticket 4711");
    await decider.screenshot({ path: `test-results/screenshots/${kind}-inbox.png`, fullPage: true });
    await card.getByRole("button", { name: "Approve" }).click();
    const dialog = decider.getByRole("dialog", { name: "Approve this request" });
    await dialog.getByRole("button", { name: "Approve" }).click();
    await expect(dialog.getByLabel("Your comment (required)")).toBeFocused();
    await dialog.getByLabel("Your comment (required)").fill("Checked with the shop owners");
    await dialog.getByRole("button", { name: "Approve" }).click();
    await expect(decider.getByText("Approved", { exact: true })).toBeVisible();
    await decider.getByRole("tab", { name: "All of my teams" }).click();
    const decided = decider.getByTestId("approval-card").filter({ hasText: summary });
    await expect(decided).toContainText("approved");
    await expect(decided).toContainText(`Abe Approver <${approver.email}>`);
    await expect(decided).toContainText(`Tara Teamadmin <${requester.email}>`);

    // 3. It ran.
    await RESULTS[kind](asker, ctx);

    // 4. The requester was told, and the audit log shows every step with both people.
    await asker.reload();
    await asker.getByRole("button", { name: /Notifications, \d+ unread/ }).click();
    await expect(asker.getByText(/Approved: /)).toBeVisible();
    await decider.goto("/audit");
    await decider.getByLabel("Team").selectOption({ label: TEAM_NAME[kind] });
    await decider.getByRole("button", { name: "Apply filters" }).click();
    const rows = decider.getByTestId("audit-row");
    for (const [action, by] of AUDIT_STEPS[kind]) {
      const who = by === "requester" ? requester.email : approver.email;
      await expect(rows.filter({ hasText: action }).filter({ hasText: who }).first()).toContainText(
        "success",
      );
    }
    await decider.screenshot({ path: `test-results/screenshots/${kind}-audit.png`, fullPage: true });
    await adminCtx.close();
  });
}
