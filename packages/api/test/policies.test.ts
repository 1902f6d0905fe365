import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import type { PolicySpecInput } from "@lifeboat/domain";
import { recomputeVmTeams } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestApi } from "../src/testing";

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let teamId: string;
let otherTeamId: string;
let vms: Record<string, string>;
type Person = Awaited<ReturnType<typeof person>>;
let admin: Person;
let admin2: Person;
let approver: Person;
let operator: Person;
let viewer: Person;

const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));

async function person(email: string, role?: string, team = teamId) {
  const u = await api.createUser({ email, name: `Name of ${email.split("@")[0]}` });
  if (role) await t.db.membership.create({ data: { id: randomUUID(), teamId: team, userId: u.id, role } });
  const headers = await api.signIn(u.email, u.password);
  return { ...u, caller: await api.caller(headers) };
}

const spec = (over: Partial<PolicySpecInput> = {}): PolicySpecInput => ({
  name: "Nightly",
  vmIds: [vms.web!, vms.db!],
  schedule: "30 2 * * *",
  timezone: "Europe/Berlin",
  keepDaily: 7,
  keepWeekly: 4,
  keepMonthly: 6,
  ...over,
});

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  teamId = randomUUID();
  otherTeamId = randomUUID();
  await t.db.team.createMany({
    data: [
      { id: teamId, name: "Web", slug: "web" },
      { id: otherTeamId, name: "Finance", slug: "finance" },
    ],
  });
  const engine = await t.db.engine.create({
    data: {
      name: "engine",
      apiUrl: "https://engine.test/ovirt-engine/api",
      username: "u",
      secretSealed: "x",
    },
  });
  vms = {};
  for (const name of ["web-01", "web-02", "db-01", "fin-01"]) {
    const vm = await t.db.vm.create({ data: { engineId: engine.id, vmId: randomUUID(), name } });
    vms[
      name.startsWith("web-01")
        ? "web"
        : name.startsWith("web-02")
          ? "web2"
          : name.startsWith("db")
            ? "db"
            : "fin"
    ] = vm.id;
  }
  await t.db.teamVmRule.createMany({
    data: [
      { teamId, kind: "name-pattern", pattern: "web-*" },
      { teamId, kind: "name-pattern", pattern: "db-*" },
      { teamId: otherTeamId, kind: "name-pattern", pattern: "fin-*" },
    ],
  });
  await recomputeVmTeams(t.db);
  admin = await person("admin@policies.test", "admin");
  admin2 = await person("admin2@policies.test", "admin");
  approver = await person("approver@policies.test", "approver");
  operator = await person("operator@policies.test", "operator");
  viewer = await person("viewer@policies.test", "viewer");
});
afterAll(async () => {
  await stopBosses();
  await t.drop();
});

describe("policy changes go through four-eyes approval", () => {
  let policyId: string;

  it("creates a policy only after a different approver approves", async () => {
    const req = await admin.caller.policies.requestChange({
      teamId,
      change: { op: "create", spec: spec() },
      reason: "Nightly backups for the web tier",
    });
    expect(req.summary).toMatch(
      /^Create policy Nightly for Web: 2 VMs; At 02:30 \(Europe\/Berlin\); keep 7 daily, 4 weekly, 6 monthly; incremental where the engine allows, a full backup after 30 incrementals or every 30 days$/,
    );
    expect(await t.db.policy.count({ where: { teamId } })).toBe(0);
    // Not by the requester (an admin, who may otherwise decide), not by an operator.
    await expect(
      admin.caller.approvals.approve({ id: req.approvalRequestId, comment: "ok" }),
    ).rejects.toThrow(/cannot decide on your own request/);
    await expect(
      operator.caller.approvals.approve({ id: req.approvalRequestId, comment: "ok" }),
    ).rejects.toSatisfy((e) => codeOf(e) === "FORBIDDEN");
    expect(await t.db.policy.count({ where: { teamId } })).toBe(0);
    const decided = await approver.caller.approvals.approve({
      id: req.approvalRequestId,
      comment: "looks right",
    });
    expect(decided.state).toBe("approved");
    const p = await t.db.policy.findFirstOrThrow({ where: { teamId }, include: { vms: true } });
    policyId = p.id;
    expect(p).toMatchObject({
      name: "Nightly",
      schedule: "30 2 * * *",
      timezone: "Europe/Berlin",
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: 6,
      keepLast: 0,
      windowMinutes: 120,
      enabled: true,
      backupMode: "auto",
      fullEveryIncrementals: 30,
      fullEveryDays: 30,
    });
    expect(p.vms.map((v) => v.vmId).sort()).toEqual([vms.web, vms.db].sort());
    expect(decided.result).toMatchObject({ op: "create", policyId });
  });

  it("shows the policy with its schedule in words, the next 5 runs and its VMs", async () => {
    const got = await viewer.caller.policies.get({ policyId });
    expect(got.schedule.words).toBe("At 02:30 (Europe/Berlin)");
    expect(got.schedule.nextRuns).toHaveLength(5);
    for (const r of got.schedule.nextRuns)
      expect(r.toLocaleTimeString("en-GB", { timeZone: "Europe/Berlin" })).toMatch(/^0(2:30|3:00):00$/);
    expect(got.vms.map((v) => [v.name, v.explicit, v.excluded])).toEqual([
      ["db-01", true, null],
      ["web-01", true, null],
    ]);
    expect(got.canManage).toBe(false);
    expect(got.canOperate).toBe(false);
    expect((await admin.caller.policies.get({ policyId })).canManage).toBe(true);
    const listed = await viewer.caller.policies.list();
    expect(listed.items.map((i) => [i.name, i.retentionWords, i.vmCount])).toEqual([
      ["Nightly", "keep 7 daily, 4 weekly, 6 monthly", 2],
    ]);
    expect(listed.items[0]?.nextRun).toEqual(got.schedule.nextRuns[0]);
  });

  it("changes a policy after approval, naming each change for the approver", async () => {
    const current = await t.db.policy.findUniqueOrThrow({ where: { id: policyId } });
    const req = await admin.caller.policies.requestChange({
      teamId,
      change: {
        op: "update",
        policyId,
        baseUpdatedAt: current.updatedAt,
        spec: spec({
          schedule: "0 3 * * *",
          keepDaily: 14,
          vmIds: [vms.web!, vms.web2!],
          includeTeamVms: false,
        }),
      },
      reason: "Longer retention",
    });
    expect(req.summary).toBe(
      "Change policy Nightly: schedule: 30 2 * * * → 0 3 * * *; keep-daily: 7 → 14; VMs: +1 −1",
    );
    expect((await t.db.policy.findUniqueOrThrow({ where: { id: policyId } })).schedule).toBe("30 2 * * *");
    const pending = await admin.caller.policies.get({ policyId });
    expect(pending.pendingChanges.map((c) => c.approvalRequestId)).toEqual([req.approvalRequestId]);
    await admin2.caller.approvals.approve({ id: req.approvalRequestId, comment: "fine" });
    const p = await t.db.policy.findUniqueOrThrow({ where: { id: policyId }, include: { vms: true } });
    expect([p.schedule, p.keepDaily]).toEqual(["0 3 * * *", 14]);
    expect(p.vms.map((v) => v.vmId).sort()).toEqual([vms.web, vms.web2].sort());
  });

  it("changes the backup mode and the full-backup cadence, naming them for the approver", async () => {
    const current = await t.db.policy.findUniqueOrThrow({ where: { id: policyId }, include: { vms: true } });
    const base = {
      schedule: current.schedule,
      keepDaily: current.keepDaily,
      vmIds: current.vms.map((v) => v.vmId),
    };
    const req = await admin.caller.policies.requestChange({
      teamId,
      change: {
        op: "update",
        policyId,
        baseUpdatedAt: current.updatedAt,
        spec: spec({ ...base, fullEveryIncrementals: 6, fullEveryDays: 0 }),
      },
      reason: "A full backup every week of nightly runs",
    });
    expect(req.summary).toBe(
      "Change policy Nightly: full backup every (incrementals): 30 → 6; full backup every (days): 30 → 0",
    );
    await approver.caller.approvals.approve({ id: req.approvalRequestId, comment: "ok" });
    const got = await viewer.caller.policies.get({ policyId });
    expect(got.policy).toMatchObject({ backupMode: "auto", fullEveryIncrementals: 6, fullEveryDays: 0 });
    expect(got.backupModeWords).toBe(
      "incremental where the engine allows, a full backup after 6 incrementals",
    );
    const chain = await admin.caller.policies.requestChange({
      teamId,
      change: {
        op: "update",
        policyId,
        baseUpdatedAt: got.policy.updatedAt,
        spec: spec({ ...base, backupMode: "snapshot-chain", keepSnapshot: true }),
      },
      reason: "Keep the snapshots for the upgrade week",
    });
    expect(chain.summary).toMatch(/backup mode: auto → snapshot-chain/);
    await approver.caller.approvals.approve({ id: chain.approvalRequestId, comment: "ok" });
    expect((await viewer.caller.policies.get({ policyId })).backupModeWords).toBe("snapshot chain");
    expect(await t.db.policy.findUniqueOrThrow({ where: { id: policyId } })).toMatchObject({
      backupMode: "snapshot-chain",
      keepSnapshot: true,
      // Not in the form's spec: back to the defaults.
      fullEveryIncrementals: 30,
      fullEveryDays: 30,
    });
  });

  it("refuses to apply a change approved after the policy changed under it", async () => {
    const first = await admin.caller.policies.requestChange({
      teamId,
      change: { op: "update", policyId, spec: spec({ schedule: "0 4 * * *", vmIds: [vms.web!] }) },
      reason: "one",
    });
    const second = await admin.caller.policies.requestChange({
      teamId,
      change: { op: "update", policyId, spec: spec({ schedule: "0 5 * * *", vmIds: [vms.web!] }) },
      reason: "two",
    });
    await approver.caller.approvals.approve({ id: first.approvalRequestId, comment: "ok" });
    const late = await approver.caller.approvals.approve({ id: second.approvalRequestId, comment: "ok" });
    expect(late.state).toBe("failed");
    expect(late.executionError).toMatch(/changed after this request was made; nothing was applied/);
    expect((await t.db.policy.findUniqueOrThrow({ where: { id: policyId } })).schedule).toBe("0 4 * * *");
    // A form loaded before a change is refused at once.
    await expect(
      admin.caller.policies.requestChange({
        teamId,
        change: { op: "delete", policyId, baseUpdatedAt: new Date("2020-01-01T00:00:00Z") },
        reason: "stale",
      }),
    ).rejects.toThrow(/changed since you opened it/);
  });

  it("rejects nonsense before it reaches approvers", async () => {
    const ask = (s: PolicySpecInput) =>
      admin.caller.policies.requestChange({ teamId, change: { op: "create", spec: s }, reason: "r" });
    await expect(ask(spec({ name: "Other", vmIds: [vms.fin!] }))).rejects.toThrow(
      /do not belong to the team/,
    );
    await expect(ask(spec({ name: "Other", keepDaily: 0, keepWeekly: 0, keepMonthly: 0 }))).rejects.toThrow(
      /Keep something/,
    );
    await expect(ask(spec({ name: "Other", schedule: "99 * * * *" }))).rejects.toThrow(/not a valid cron/);
    await expect(ask(spec({ name: "Other", verifySchedule: "nope" }))).rejects.toThrow(/Verify schedule/);
    await expect(ask(spec({ name: "Other", timezone: "Mars/Olympus" }))).rejects.toThrow(/Unknown time zone/);
    await expect(ask(spec({ name: "nightly" }))).rejects.toThrow(/already has a policy named/);
    await expect(ask(spec({ name: "Other", vmIds: [], includeTeamVms: false }))).rejects.toThrow(
      /Choose the VMs/,
    );
    await expect(ask(spec({ name: "Other", keepSnapshot: true }))).rejects.toThrow(
      /Keeping the snapshot needs the snapshot-chain backup mode/,
    );
    await expect(ask(spec({ name: "Other", fullEveryDays: -1 }))).rejects.toSatisfy(
      (e) => codeOf(e) === "BAD_REQUEST",
    );
    await expect(
      // @ts-expect-error: a policy chooses auto or the snapshot chain; incrementals are auto's to take
      ask(spec({ name: "Other", backupMode: "incremental" })),
    ).rejects.toSatisfy((e) => codeOf(e) === "BAD_REQUEST");
    // Only team admins ask.
    await expect(
      operator.caller.policies.requestChange({
        teamId,
        change: { op: "create", spec: spec({ name: "X" }) },
        reason: "r",
      }),
    ).rejects.toSatisfy((e) => codeOf(e) === "FORBIDDEN");
  });

  it("deletes a policy after approval, keeping its restore points", async () => {
    const rp = await point(policyId, vms.web!, "2026-05-01T01:00:00Z");
    const req = await admin.caller.policies.requestChange({
      teamId,
      change: { op: "delete", policyId },
      reason: "gone",
    });
    expect(req.summary).toMatch(/^Delete policy Nightly of Web/);
    expect(await t.db.policy.count({ where: { id: policyId } })).toBe(1);
    await approver.caller.approvals.approve({ id: req.approvalRequestId, comment: "ok" });
    expect(await t.db.policy.count({ where: { id: policyId } })).toBe(0);
    expect(await t.db.restorePoint.count({ where: { id: rp } })).toBe(1);
  });
});

async function point(
  policyId: string | null,
  vmId: string,
  createdAt: string,
  pinned = false,
  over: { backupMode?: string; state?: string } = {},
) {
  const vm = await t.db.vm.findUniqueOrThrow({ where: { id: vmId } });
  const rp = await t.db.restorePoint.create({
    data: {
      vmId,
      engineId: vm.engineId,
      vmName: vm.name,
      createdAt: new Date(createdAt),
      state: "complete",
      ovf: "<ovf/>",
      policyId,
      pinned,
      ...over,
    },
  });
  return rp.id;
}

async function directPolicy(name: string, over: Record<string, unknown> = {}) {
  return t.db.policy.create({
    data: {
      teamId,
      name,
      schedule: "0 2 * * *",
      timezone: "UTC",
      keepDaily: 2,
      keepWeekly: 1,
      keepMonthly: 0,
      vms: { create: [{ vmId: vms.db! }] },
      ...over,
    },
  });
}

describe("prune preview, pins and deletions", () => {
  it("previews which points go and which rule keeps each of the rest, leaving other points alone", async () => {
    const p = await directPolicy("Preview");
    const ids = {
      may5: await point(p.id, vms.db!, "2026-05-05T02:00:00Z"),
      may4b: await point(p.id, vms.db!, "2026-05-04T14:00:00Z"),
      may4: await point(p.id, vms.db!, "2026-05-04T02:00:00Z"),
      may3: await point(p.id, vms.db!, "2026-05-03T02:00:00Z"), // Sunday: ISO week 18
      apr30: await point(p.id, vms.db!, "2026-04-30T02:00:00Z", true),
      manual: await point(null, vms.db!, "2026-04-01T02:00:00Z"),
    };
    const preview = await viewer.caller.policies.prunePreview({ policyId: p.id });
    expect(preview.vms.map((v) => [v.vmName, v.keep, v.remove])).toEqual([["db-01", 4, 1]]);
    const by = Object.fromEntries(preview.vms[0]!.points.map((x) => [x.id, x]));
    expect(by[ids.may5]).toMatchObject({ keep: true, rule: "daily", bucket: "2026-05-05" });
    expect(by[ids.may4b]).toMatchObject({ keep: true, rule: "daily", bucket: "2026-05-04" });
    expect(by[ids.may4]).toMatchObject({
      keep: false,
      rule: null,
      supersededBy: { id: ids.may4b, rule: "daily" },
    });
    expect(by[ids.may3]).toMatchObject({ keep: true, rule: "weekly", bucket: "2026-W18" });
    expect(by[ids.apr30]).toMatchObject({ keep: true, rule: "pinned" });
    // The manual backup is not this policy's to prune.
    expect(by[ids.manual]).toBeUndefined();
  });

  it("pins for operators, unpins for team admins only, and the preview follows", async () => {
    const p = await directPolicy("Pins", { keepDaily: 1, keepWeekly: 0 });
    const older = await point(p.id, vms.db!, "2026-06-01T02:00:00Z");
    await point(p.id, vms.db!, "2026-06-02T02:00:00Z");
    const decision = async () =>
      (await viewer.caller.policies.prunePreview({ policyId: p.id })).vms[0]!.points.find(
        (x) => x.id === older,
      );
    expect(await decision()).toMatchObject({ keep: false });
    await expect(viewer.caller.policies.pin({ restorePointId: older })).rejects.toSatisfy(
      (e) => codeOf(e) === "FORBIDDEN",
    );
    await operator.caller.policies.pin({ restorePointId: older });
    expect(await decision()).toMatchObject({ keep: true, rule: "pinned" });
    await expect(operator.caller.policies.unpin({ restorePointId: older })).rejects.toSatisfy(
      (e) => codeOf(e) === "FORBIDDEN",
    );
    await admin.caller.policies.unpin({ restorePointId: older });
    expect(await decision()).toMatchObject({ keep: false });
    const audit = await t.db.auditEvent.findFirstOrThrow({
      where: { action: "policies.pin", outcome: "success", targetId: older },
    });
    expect(audit).toMatchObject({ actorId: operator.id, teamId, targetType: "restore_point" });
  });

  it("deletes a restore point by hand only through approval, and never a pinned one", async () => {
    const rp = await point(null, vms.web!, "2026-06-10T02:00:00Z");
    const pinned = await point(null, vms.web!, "2026-06-11T02:00:00Z", true);
    await expect(
      operator.caller.policies.requestPointDeletion({ restorePointId: pinned, reason: "space" }),
    ).rejects.toThrow(/pinned: unpin it first/);
    const req = await operator.caller.policies.requestPointDeletion({ restorePointId: rp, reason: "space" });
    await expect(
      operator.caller.policies.requestPointDeletion({ restorePointId: rp, reason: "again" }),
    ).rejects.toThrow(/already waits for approval/);
    expect(await t.db.job.count({ where: { type: "restore-point.delete", restorePointId: rp } })).toBe(0);
    const decided = await approver.caller.approvals.approve({ id: req.approvalRequestId, comment: "ok" });
    expect(decided.state).toBe("approved");
    const job = await t.db.job.findUniqueOrThrow({ where: { id: decided.jobId! } });
    expect(job).toMatchObject({
      type: "restore-point.delete",
      restorePointId: rp,
      vmId: vms.web,
      teamId,
      createdBy: operator.id,
      input: { restorePointId: rp },
    });
  });

  it("keeps other teams' restore points and policies out of reach", async () => {
    const fin = await point(null, vms.fin!, "2026-06-10T02:00:00Z");
    await expect(operator.caller.policies.pin({ restorePointId: fin })).rejects.toSatisfy(
      (e) => codeOf(e) === "NOT_FOUND",
    );
    const other = await t.db.policy.create({
      data: { teamId: otherTeamId, name: "Finance nightly", schedule: "0 1 * * *" },
    });
    await expect(viewer.caller.policies.get({ policyId: other.id })).rejects.toSatisfy(
      (e) => codeOf(e) === "NOT_FOUND",
    );
    expect((await viewer.caller.policies.list()).items.map((i) => i.teamId)).not.toContain(otherTeamId);
  });

  it("describes a schedule as the form types it", async () => {
    const ok = await viewer.caller.policies.describeSchedule({
      schedule: "0 3 * * 0",
      timezone: "Asia/Tokyo",
    });
    expect(ok).toMatchObject({ ok: true, words: "At 03:00, only on Sunday (Asia/Tokyo)" });
    if (ok.ok) expect(ok.nextRuns).toHaveLength(5);
    const bad = await viewer.caller.policies.describeSchedule({ schedule: "0 3 * *", timezone: "UTC" });
    expect(bad).toMatchObject({ ok: false, error: expect.stringMatching(/4 field/) });
  });

  it("runs now: one backup per protected VM with keepSnapshot, skipping a busy VM and one the engine lost", async () => {
    const engineId = (await t.db.engine.findFirstOrThrow()).id;
    const made: Record<string, string> = {};
    for (const name of ["snap-1", "snap-2", "snap-3"])
      made[name] = (await t.db.vm.create({ data: { engineId, vmId: randomUUID(), name } })).id;
    await t.db.teamVmRule.create({ data: { teamId, kind: "name-pattern", pattern: "snap-*" } });
    await recomputeVmTeams(t.db);
    await t.db.vm.update({ where: { id: made["snap-3"] }, data: { goneAt: new Date() } });
    const busy = await t.db.job.create({
      data: { type: "backup.vm", state: "running", vmId: made["snap-2"], teamId, engineId },
    });
    const p = await t.db.policy.create({
      data: {
        teamId,
        name: "Snapshots",
        schedule: "0 1 * * *",
        keepSnapshot: true,
        vms: { create: Object.values(made).map((vmId) => ({ vmId })) },
      },
    });
    await expect(viewer.caller.policies.runNow({ policyId: p.id })).rejects.toSatisfy(
      (e) => codeOf(e) === "FORBIDDEN",
    );
    const run = await operator.caller.policies.runNow({ policyId: p.id });
    expect(run.state).toBe("started");
    expect(run.jobIds).toHaveLength(1);
    const job = await t.db.job.findUniqueOrThrow({ where: { id: run.jobIds[0]! } });
    expect(job).toMatchObject({
      type: "backup.vm",
      vmId: made["snap-1"],
      policyId: p.id,
      teamId,
      createdBy: operator.id,
      input: { keepSnapshot: true, description: "Policy Snapshots" },
    });
    expect(run.skipped).toEqual([
      { vmName: "snap-2", reason: expect.stringContaining(busy.id) },
      { vmName: "snap-3", reason: "The engine no longer lists it." },
    ]);
    const stored = await t.db.policyRun.findUniqueOrThrow({ where: { id: run.runId } });
    expect(stored).toMatchObject({
      kind: "backup",
      state: "started",
      details: { manual: { userId: operator.id } },
    });
    expect((await viewer.caller.policies.jobs({ policyId: p.id })).items.map((j) => j.vmName)).toEqual([
      "snap-1",
    ]);
  });

  it("runs now in the policy's mode: a full backup once the VM's last full one is too old or enough incrementals followed it", async () => {
    const engineId = (await t.db.engine.findFirstOrThrow()).id;
    const made: Record<string, string> = {};
    for (const name of ["inc-fresh", "inc-old", "inc-many", "inc-new", "inc-pruned", "inc-fallback"])
      made[name] = (await t.db.vm.create({ data: { engineId, vmId: randomUUID(), name } })).id;
    await t.db.teamVmRule.create({ data: { teamId, kind: "name-pattern", pattern: "inc-*" } });
    await recomputeVmTeams(t.db);
    const ago = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
    const full = { backupMode: "full" };
    const incremental = { backupMode: "incremental" };
    await point(null, made["inc-fresh"]!, ago(2), false, full);
    await point(null, made["inc-fresh"]!, ago(1), false, incremental);
    await point(null, made["inc-fresh"]!, ago(0.5), false, incremental);
    // A failed point does not count.
    await point(null, made["inc-fresh"]!, ago(0.3), false, { ...incremental, state: "failed" });
    await point(null, made["inc-old"]!, ago(10), false, full);
    await point(null, made["inc-old"]!, ago(1), false, { ...full, state: "failed" });
    await point(null, made["inc-many"]!, ago(4), false, full);
    for (const d of [3, 2, 1]) await point(null, made["inc-many"]!, ago(d), false, incremental);
    await point(null, made["inc-pruned"]!, ago(1), false, incremental);
    // auto took the snapshot chain last time (the engine offered no backup API): no full is forced on it.
    await point(null, made["inc-fallback"]!, ago(20), false, full);
    await point(null, made["inc-fallback"]!, ago(1), false, { backupMode: "snapshot-chain" });
    const p = await t.db.policy.create({
      data: {
        teamId,
        name: "Incremental forever",
        schedule: "0 1 * * *",
        fullEveryDays: 7,
        fullEveryIncrementals: 3,
        vms: { create: Object.values(made).map((vmId) => ({ vmId })) },
      },
    });
    const modes = async () => {
      const run = await operator.caller.policies.runNow({ policyId: p.id });
      const jobs = await t.db.job.findMany({ where: { id: { in: run.jobIds } } });
      await Promise.all(jobs.map((j) => operator.caller.jobs.cancel({ id: j.id })));
      const nameOf = Object.fromEntries(Object.entries(made).map(([name, id]) => [id, name]));
      const stored = await t.db.policyRun.findUniqueOrThrow({ where: { id: run.runId } });
      return {
        modes: Object.fromEntries(
          jobs.map((j) => [nameOf[j.vmId ?? ""], (j.input as { mode: string }).mode]),
        ) as Record<string, string>,
        details: stored.details as { jobs: Array<{ vmName: string; mode: string; why?: string }> },
      };
    };
    const first = await modes();
    expect(first.modes).toEqual({
      "inc-fallback": "auto",
      "inc-fresh": "auto",
      "inc-many": "full",
      "inc-new": "auto",
      "inc-old": "full",
      "inc-pruned": "full",
    });
    const why = Object.fromEntries(first.details.jobs.map((j) => [j.vmName, j.why]));
    expect(why["inc-old"]).toMatch(/is 10 days old; the policy takes one every 7 days/);
    expect(why["inc-many"]).toMatch(/^3 incrementals followed the last full backup/);
    expect(why["inc-pruned"]).toMatch(/no full backup-API restore point/);
    expect(why["inc-fresh"]).toBeUndefined();
    // 0 turns a limit off.
    await t.db.policy.update({ where: { id: p.id }, data: { fullEveryDays: 0, fullEveryIncrementals: 0 } });
    expect(Object.values((await modes()).modes).filter((m) => m === "full")).toEqual(["full"]);
    await t.db.policy.update({ where: { id: p.id }, data: { backupMode: "snapshot-chain" } });
    expect(new Set(Object.values((await modes()).modes))).toEqual(new Set(["snapshot-chain"]));
  });
});
