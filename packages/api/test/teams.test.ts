import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { recomputeVmTeams, vmWhere } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestApi } from "../src/testing";

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let site: Awaited<ReturnType<typeof api.caller>>;
let engine1: string;
let engine2: string;

const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));

async function person(email: string) {
  const u = await api.createUser({ email, name: email.split("@")[0] });
  return { ...u, caller: await api.caller(await api.signIn(u.email, u.password)) };
}

async function vm(engineId: string, name: string, tags: string[] = []) {
  return (await t.db.vm.create({ data: { engineId, vmId: randomUUID(), name, tags } })).id;
}

async function ownersOf(vmId: string) {
  return (await t.db.vmTeam.findMany({ where: { vmId } })).map((r) => r.teamId).sort();
}

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  const root = await api.createUser({ email: "root@teams.test", role: "admin" });
  site = await api.caller(await api.signIn(root.email, root.password));
  const mk = (name: string) =>
    t.db.engine.create({
      data: { name, apiUrl: `https://${name}/ovirt-engine/api`, username: "u", secretSealed: "s" },
    });
  engine1 = (await mk("engine-one")).id;
  engine2 = (await mk("engine-two")).id;
});
afterAll(async () => {
  await stopBosses();
  await t.drop();
});

describe("recomputeVmTeams", () => {
  it("derives ownership from explicit, tag and name-pattern rules", async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await t.db.team.createMany({
      data: [
        { id: a, name: "Rules A", slug: `ra-${a}` },
        { id: b, name: "Rules B", slug: `rb-${b}` },
      ],
    });
    const web1 = await vm(engine1, "Web-01");
    const web2 = await vm(engine2, "web-02");
    const db1 = await vm(engine1, "db_01", ["prod"]);
    const dbx = await vm(engine1, "dbx01", ["Prod"]);
    const pct = await vm(engine2, "100%-cpu", ["prod"]);
    const explicit = await t.db.vm.findUniqueOrThrow({ where: { id: pct } });
    await t.db.teamVmRule.createMany({
      data: [
        // case-insensitive, any engine
        { teamId: a, kind: "name-pattern", pattern: "web-*" },
        // `_` and `%` are literal characters in patterns, not SQL wildcards
        { teamId: b, kind: "name-pattern", pattern: "db_*", engineId: engine1 },
        { teamId: b, kind: "name-pattern", pattern: "100%*" },
        // tags match exactly, on the rule's engine only
        { teamId: a, kind: "tag", tag: "prod", engineId: engine1 },
        { teamId: b, kind: "vm", engineId: explicit.engineId, vmId: explicit.vmId },
      ],
    });
    expect(await recomputeVmTeams(t.db)).toMatchObject({ removed: 0 });
    expect(await ownersOf(web1)).toEqual([a]);
    expect(await ownersOf(web2)).toEqual([a]);
    expect(await ownersOf(db1)).toEqual([a, b].sort());
    expect(await ownersOf(dbx)).toEqual([]);
    expect(await ownersOf(pct)).toEqual([b]);
    // Recomputing again changes nothing.
    expect(await recomputeVmTeams(t.db)).toEqual({ added: 0, removed: 0 });

    await t.db.teamVmRule.deleteMany({ where: { teamId: a, kind: "tag" } });
    expect(await recomputeVmTeams(t.db, { teamId: a })).toEqual({ added: 0, removed: 1 });
    expect(await ownersOf(db1)).toEqual([b]);
  });

  it("keeps a VM's owners after it left the engine, and touches only the given engine", async () => {
    const team = randomUUID();
    await t.db.team.create({ data: { id: team, name: "Keep", slug: `keep-${team}` } });
    await t.db.teamVmRule.create({ data: { teamId: team, kind: "name-pattern", pattern: "keep-*" } });
    const gone = await vm(engine1, "keep-old");
    const other = await vm(engine2, "keep-other");
    await recomputeVmTeams(t.db, { teamId: team });
    await t.db.vm.update({ where: { id: gone }, data: { goneAt: new Date() } });
    await t.db.vm.update({ where: { id: other }, data: { name: "renamed" } });
    await recomputeVmTeams(t.db, { engineId: engine1 });
    expect(await ownersOf(gone)).toEqual([team]);
    // engine-two was not recomputed yet: its renamed VM still belongs to the team until it is.
    expect(await ownersOf(other)).toEqual([team]);
    await recomputeVmTeams(t.db, { engineId: engine2 });
    expect(await ownersOf(other)).toEqual([]);
  });

  it("scopes VM queries to the actor's teams (site admins see all)", async () => {
    const team = randomUUID();
    await t.db.team.create({ data: { id: team, name: "Scope", slug: `scope-${team}` } });
    await t.db.teamVmRule.create({ data: { teamId: team, kind: "name-pattern", pattern: "scoped-*" } });
    const mine = await vm(engine1, "scoped-1");
    await vm(engine1, "unscoped-1");
    await recomputeVmTeams(t.db, { teamId: team });
    const actor = { userId: "x", name: "x", email: "x", siteAdmin: false, teamIds: [team] };
    expect((await t.db.vm.findMany({ where: vmWhere(actor) })).map((v) => v.id)).toEqual([mine]);
    expect(await t.db.vm.count({ where: vmWhere({ ...actor, teamIds: [] }) })).toBe(0);
    expect(await t.db.vm.count({ where: vmWhere({ ...actor, siteAdmin: true }) })).toBe(
      await t.db.vm.count(),
    );
  });
});

describe("teams and members", () => {
  it("site admins create teams; team admins manage their members; others cannot", async () => {
    const admin = await person("tadmin@teams.test");
    const approver = await person("tapprover@teams.test");
    const operator = await person("toperator@teams.test");
    const team = await site.teams.create({ name: "Payments", adminEmail: admin.email });
    expect(codeOf(await site.teams.create({ name: "payments" }).catch((e) => e))).toBe("CONFLICT");

    await admin.caller.teams.addMember({ teamId: team.id, email: approver.email, role: "approver" });
    await admin.caller.teams.addMember({ teamId: team.id, email: operator.email, role: "viewer" });
    await admin.caller.teams.setMemberRole({ teamId: team.id, userId: operator.id, role: "operator" });
    const dup = await admin.caller.teams
      .addMember({ teamId: team.id, email: operator.email, role: "viewer" })
      .catch((e) => e);
    expect(codeOf(dup)).toBe("CONFLICT");
    const seen = await operator.caller.teams.get({ teamId: team.id });
    // By name: tadmin, tapprover, toperator.
    expect(seen.members.map((m) => [m.email, m.role])).toEqual([
      [admin.email, "admin"],
      [approver.email, "approver"],
      [operator.email, "operator"],
    ]);
    expect(seen).toMatchObject({ myRole: "operator", canManage: false, canAdminister: false });

    // Operators and approvers do not manage members; nobody manages another team's.
    const other = await site.teams.create({ name: "Other team" });
    for (const [caller, teamId] of [
      [operator.caller, team.id],
      [approver.caller, team.id],
      [admin.caller, other.id],
    ] as const) {
      const err = await caller.teams
        .addMember({ teamId, email: "root@teams.test", role: "admin" })
        .catch((e) => e);
      expect(codeOf(err)).toBe("FORBIDDEN");
    }
    // A team keeps an admin: its only admin cannot demote or remove themselves.
    const last = await admin.caller.teams
      .setMemberRole({ teamId: team.id, userId: admin.id, role: "viewer" })
      .catch((e) => e);
    expect(codeOf(last)).toBe("BAD_REQUEST");
    expect(
      codeOf(await admin.caller.teams.removeMember({ teamId: team.id, userId: admin.id }).catch((e) => e)),
    ).toBe("BAD_REQUEST");
    await admin.caller.teams.removeMember({ teamId: team.id, userId: operator.id });
    expect(codeOf(await operator.caller.teams.get({ teamId: team.id }).catch((e) => e))).toBe("FORBIDDEN");
    const audited = await t.db.auditEvent.findMany({
      where: { teamId: team.id, action: { startsWith: "teams." } },
      orderBy: { at: "asc" },
    });
    expect(audited.filter((a) => a.outcome === "success").map((a) => a.action)).toEqual([
      "teams.create",
      "teams.addMember",
      "teams.addMember",
      "teams.setMemberRole",
      "teams.removeMember",
    ]);
    expect(audited.filter((a) => a.outcome !== "success").length).toBeGreaterThanOrEqual(4);
  });

  it("only site admins change approval settings, and deleting asks for the name", async () => {
    const admin = await person("sadmin@teams.test");
    const team = await site.teams.create({ name: "Settings", adminEmail: admin.email });
    const err = await admin.caller.teams
      .update({ teamId: team.id, requireApprovalForRestores: false })
      .catch((e) => e);
    expect(codeOf(err)).toBe("FORBIDDEN");
    const updated = await site.teams.update({
      teamId: team.id,
      requireApprovalForDownloads: true,
      approvalTtlHours: 4,
    });
    expect(updated).toMatchObject({ requireApprovalForDownloads: true, approvalTtlHours: 4 });
    const row = await t.db.auditEvent.findFirstOrThrow({
      where: { action: "teams.update", teamId: team.id, outcome: "success" },
    });
    expect(row.details).toMatchObject({
      changes: { requireApprovalForDownloads: true, approvalTtlHours: 4 },
    });
    expect(
      codeOf(await site.teams.delete({ teamId: team.id, confirmName: "settings" }).catch((e) => e)),
    ).toBe("BAD_REQUEST");
    await site.teams.delete({ teamId: team.id, confirmName: "Settings" });
    expect(await t.db.membership.count({ where: { teamId: team.id } })).toBe(0);
  });
});

describe("VM assignment changes need four eyes", () => {
  it("a team admin's rule change waits for another approver, then applies with its ownership", async () => {
    const admin = await person("radmin@teams.test");
    const approver = await person("rapprover@teams.test");
    const team = await site.teams.create({ name: "Web", adminEmail: admin.email });
    await admin.caller.teams.addMember({ teamId: team.id, email: approver.email, role: "approver" });
    const vmId = await vm(engine1, "shop-frontend-1");

    const req = await admin.caller.teams.requestVmRuleChange({
      teamId: team.id,
      change: { op: "add", rule: { kind: "name-pattern", pattern: "shop-*", engineId: engine1 } },
      reason: "The shop moved to our team",
    });
    expect(req.summary).toMatch(/shop-\*.*engine-one.*1 VM/);
    expect(await t.db.teamVmRule.count({ where: { teamId: team.id } })).toBe(0);
    expect((await admin.caller.teams.vms({ teamId: team.id })).items).toEqual([]);
    // The requester cannot approve, although a team admin decides approvals otherwise.
    const self = await admin.caller.approvals
      .approve({ id: req.approvalRequestId, comment: "looks fine to me" })
      .catch((e) => e);
    expect(codeOf(self)).toBe("FORBIDDEN");

    const decided = await approver.caller.approvals.approve({
      id: req.approvalRequestId,
      comment: "Confirmed",
    });
    expect(decided).toMatchObject({ state: "approved", decidedBy: { email: approver.email } });
    expect(decided.result).toMatchObject({ op: "add", vmsAdded: 1 });
    expect((await admin.caller.teams.vms({ teamId: team.id })).items.map((v) => v.id)).toEqual([vmId]);
    const rule = await t.db.teamVmRule.findFirstOrThrow({ where: { teamId: team.id } });
    expect(rule).toMatchObject({ kind: "name-pattern", pattern: "shop-*", createdBy: admin.id });

    const removal = await admin.caller.teams.requestVmRuleChange({
      teamId: team.id,
      change: { op: "remove", ruleId: rule.id },
      reason: "The shop moves on",
    });
    await approver.caller.approvals.reject({ id: removal.approvalRequestId, comment: "Not yet" });
    expect(await t.db.teamVmRule.count({ where: { teamId: team.id } })).toBe(1);
    const actions = await t.db.auditEvent.findMany({
      where: { teamId: team.id, outcome: "success" },
      orderBy: { at: "asc" },
      select: { action: true },
    });
    expect(actions.map((a) => a.action)).toEqual(
      expect.arrayContaining([
        "teams.requestVmRuleChange",
        "approval.requested",
        "approvals.approve",
        "approval.executed",
        "approvals.reject",
      ]),
    );
  });

  it("refuses a rule for an unknown engine or another team's rule", async () => {
    const admin = await person("xadmin@teams.test");
    const team = await site.teams.create({ name: "Checks", adminEmail: admin.email });
    const other = await site.teams.create({ name: "Checks other" });
    const foreign = await t.db.teamVmRule.create({ data: { teamId: other.id, kind: "tag", tag: "x" } });
    const bad = await admin.caller.teams
      .requestVmRuleChange({
        teamId: team.id,
        change: { op: "add", rule: { kind: "vm", engineId: "nope", vmId: "123" } },
        reason: "r",
      })
      .catch((e) => e);
    expect(codeOf(bad)).toBe("BAD_REQUEST");
    const steal = await admin.caller.teams
      .requestVmRuleChange({ teamId: team.id, change: { op: "remove", ruleId: foreign.id }, reason: "r" })
      .catch((e) => e);
    expect(codeOf(steal)).toBe("NOT_FOUND");
    expect(await t.db.approvalRequest.count({ where: { teamId: team.id } })).toBe(0);
  });
});
