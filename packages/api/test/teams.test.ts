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
    // Made approver by the site admin: a role the requester gave would not count for their requests.
    await site.teams.addMember({ teamId: team.id, email: approver.email, role: "approver" });
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

describe("a rule matching another team's VMs", () => {
  it("is decided by a site admin or that team's admin, never by the requesting team's approver", async () => {
    const engine3 = (
      await t.db.engine.create({
        data: {
          name: "engine-three",
          apiUrl: "https://e3/ovirt-engine/api",
          username: "u",
          secretSealed: "s",
        },
      })
    ).id;
    const redAdmin = await person("red-admin@teams.test");
    const redApprover = await person("red-approver@teams.test");
    const blueAdmin = await person("blue-admin@teams.test");
    const blueApprover = await person("blue-approver@teams.test");
    const red = await site.teams.create({ name: "Red", adminEmail: redAdmin.email });
    const blue = await site.teams.create({ name: "Blue", adminEmail: blueAdmin.email });
    await site.teams.addMember({ teamId: red.id, email: redApprover.email, role: "approver" });
    await site.teams.addMember({ teamId: blue.id, email: blueApprover.email, role: "approver" });
    const blueDb = await vm(engine3, "blue-db-1");
    const blueWeb = await vm(engine3, "blue-web-1");
    const free = await vm(engine3, "unowned-1");
    await t.db.teamVmRule.create({ data: { teamId: blue.id, kind: "name-pattern", pattern: "blue-*" } });
    await recomputeVmTeams(t.db, { teamId: blue.id });

    const req = await redAdmin.caller.teams.requestVmRuleChange({
      teamId: red.id,
      change: { op: "add", rule: { kind: "name-pattern", pattern: "*", engineId: engine3 } },
      reason: "We run everything on engine three now",
    });
    // The approver is shown which teams and VMs it touches.
    expect(req.summary).toMatch(
      /3 VMs in the inventory now, among them 2 VMs of team Blue \(blue-db-1, blue-web-1\)/,
    );
    expect(req.otherTeams).toEqual([
      {
        teamId: blue.id,
        teamName: "Blue",
        vmCount: 2,
        vms: [
          { id: blueDb, name: "blue-db-1" },
          { id: blueWeb, name: "blue-web-1" },
        ],
      },
    ]);
    const id = req.approvalRequestId;
    expect(await redApprover.caller.approvals.get({ id })).toMatchObject({
      canDecide: false,
      otherTeamIds: [blue.id],
    });
    // Neither the requesting team's approver nor the other team's mere approver decides it.
    for (const p of [redApprover, blueApprover]) {
      const err = await p.caller.approvals.approve({ id, comment: "fine" }).catch((e) => e);
      expect(codeOf(err)).toBe("FORBIDDEN");
      expect(String(err.message)).toContain("touches VMs of Blue");
    }
    expect(await ownersOf(blueDb)).toEqual([blue.id]);

    // The other team is told, and its audit log records it.
    const told = await blueAdmin.caller.notifications.list({ unreadOnly: true });
    expect(told.items.map((n) => n.kind)).toEqual(["approval.requested"]);
    expect(told.items[0]?.title).toContain("Another team asks for your team's VMs");
    const blueLog = async () =>
      (await blueAdmin.caller.audit.list({ teamId: blue.id })).items.filter((r) => r.targetId === id);
    expect((await blueLog()).map((r) => r.action)).toEqual(["approval.requested"]);
    expect((await blueLog())[0]?.details).toMatchObject({ requestingTeam: { id: red.id, name: "Red" } });
    expect((await blueAdmin.caller.approvals.list({ view: "inbox" })).items.map((r) => r.id)).toContain(id);
    expect((await redApprover.caller.approvals.list({ view: "inbox" })).items.map((r) => r.id)).not.toContain(
      id,
    );

    const decided = await blueAdmin.caller.approvals.approve({ id, comment: "Red takes over engine three" });
    expect(decided).toMatchObject({ state: "approved", decidedBy: { email: blueAdmin.email } });
    expect(await ownersOf(blueDb)).toEqual([blue.id, red.id].sort());
    expect(await ownersOf(free)).toEqual([red.id]);
    expect((await blueLog()).map((r) => r.action).sort()).toEqual([
      "approval.executed",
      "approval.requested",
    ]);
    const outcome = await blueAdmin.caller.notifications.list({ unreadOnly: true });
    expect(outcome.items.map((n) => n.kind)).toContain("approval.approved");

    // A `vm` rule naming another team's VM: a site admin's approval suffices.
    const blueOnly = await vm(engine3, "blue-only-1");
    await recomputeVmTeams(t.db, { teamId: blue.id });
    const one = await t.db.vm.findUniqueOrThrow({ where: { id: blueOnly } });
    const byVm = await redAdmin.caller.teams.requestVmRuleChange({
      teamId: red.id,
      change: { op: "add", rule: { kind: "vm", engineId: engine3, vmId: one.vmId } },
      reason: "This one too",
    });
    expect(byVm.otherTeams.map((o) => o.teamId)).toEqual([blue.id]);
    expect(
      codeOf(
        await redApprover.caller.approvals
          .approve({ id: byVm.approvalRequestId, comment: "ok" })
          .catch((e) => e),
      ),
    ).toBe("FORBIDDEN");
    await site.approvals.approve({ id: byVm.approvalRequestId, comment: "Confirmed with Blue" });
    expect(await ownersOf(blueOnly)).toEqual([blue.id, red.id].sort());
  });

  it("fails when the rule matches a team its deciders were not shown", async () => {
    const admin = await person("late-admin@teams.test");
    const team = await site.teams.create({ name: "Late", adminEmail: admin.email });
    const owner = await site.teams.create({ name: "Late owner" });
    const req = await admin.caller.teams.requestVmRuleChange({
      teamId: team.id,
      change: { op: "add", rule: { kind: "name-pattern", pattern: "late-*" } },
      reason: "Our VMs",
    });
    expect(req.otherTeams).toEqual([]);
    // Before the decision, another team comes to own a matching VM.
    const theirs = await vm(engine1, "late-1");
    await t.db.teamVmRule.create({ data: { teamId: owner.id, kind: "name-pattern", pattern: "late-*" } });
    await recomputeVmTeams(t.db, { teamId: owner.id });
    // A membership without grant facts (as before they were kept) counts, though added after the request.
    const approver = await person("late-approver@teams.test");
    await t.db.membership.create({
      data: { id: randomUUID(), teamId: team.id, userId: approver.id, role: "approver" },
    });
    const decided = await approver.caller.approvals.approve({ id: req.approvalRequestId, comment: "ok" });
    expect(decided.state).toBe("failed");
    expect(decided.executionError).toContain("team Late owner");
    expect(await ownersOf(theirs)).toEqual([owner.id]);
  });
});

describe("four eyes cannot be met with a second account", () => {
  it("refuses an approver whose role the requester gave, or gave after the request", async () => {
    const rootEmail = "root@teams.test";
    const admin = await person("gold-admin@teams.test");
    const team = await site.teams.create({ name: "Gold", adminEmail: admin.email });
    // The site admin files a request, then makes a second account an approver of the team.
    const req = await site.teams.requestVmRuleChange({
      teamId: team.id,
      change: { op: "add", rule: { kind: "name-pattern", pattern: "gold-*" } },
      reason: "Gold's VMs",
    });
    const puppet = await person("gold-puppet@teams.test");
    await site.teams.addMember({ teamId: team.id, email: puppet.email, role: "approver" });
    const refused = await puppet.caller.approvals
      .approve({ id: req.approvalRequestId, comment: "me again" })
      .catch((e) => e);
    expect(codeOf(refused)).toBe("FORBIDDEN");
    expect(String(refused.message)).toContain("the requester gave you that role");
    expect((await puppet.caller.approvals.get({ id: req.approvalRequestId })).canDecide).toBe(false);
    expect((await puppet.caller.approvals.counts()).awaitingMyDecision).toBe(0);
    // Given by someone else, but after the request was filed: it does not count either.
    const late = await person("gold-late@teams.test");
    await admin.caller.teams.addMember({ teamId: team.id, email: late.email, role: "approver" });
    const tooLate = await late.caller.approvals
      .approve({ id: req.approvalRequestId, comment: "ok" })
      .catch((e) => e);
    expect(codeOf(tooLate)).toBe("FORBIDDEN");
    expect(String(tooLate.message)).toContain("after the request was filed");
    expect(
      (await t.db.approvalRequest.findUniqueOrThrow({ where: { id: req.approvalRequestId } })).state,
    ).toBe("pending");
    // An approver the team admin appointed before the request decides it.
    const second = await site.teams.requestVmRuleChange({
      teamId: team.id,
      change: { op: "add", rule: { kind: "name-pattern", pattern: "gold2-*" } },
      reason: "More of Gold's VMs",
    });
    expect((await late.caller.approvals.approve({ id: second.approvalRequestId, comment: "ok" })).state).toBe(
      "approved",
    );

    // Who gave each role is shown: in the team's members and in the accounts list.
    const members = (await admin.caller.teams.get({ teamId: team.id })).members;
    const grantor = (email: string) => members.find((m) => m.email === email)?.grantedBy?.email;
    expect(grantor(puppet.email)).toBe(rootEmail);
    expect(grantor(late.email)).toBe(admin.email);
    expect(grantor(admin.email)).toBe(rootEmail);
    const [account] = (await site.users.list({ search: puppet.email })).items;
    expect(account?.teams).toEqual([
      expect.objectContaining({
        id: team.id,
        role: "approver",
        grantedBy: expect.objectContaining({ email: rootEmail }),
      }),
    ]);
  });

  it("refuses a site admin whose site role the requester gave, and the team roles it gave itself", async () => {
    const owner = await site.teams.create({ name: "Silver owner" });
    const team = await site.teams.create({ name: "Silver" });
    const theirs = await vm(engine2, "silver-1");
    await t.db.teamVmRule.create({ data: { teamId: owner.id, kind: "name-pattern", pattern: "silver-*" } });
    await recomputeVmTeams(t.db, { teamId: owner.id });
    const req = await site.teams.requestVmRuleChange({
      teamId: team.id,
      change: { op: "add", rule: { kind: "name-pattern", pattern: "silver-*" } },
      reason: "Silver's VMs",
    });
    const puppet = await person("silver-puppet@teams.test");
    const promoted = await site.users.update({ userId: puppet.id, siteAdmin: true });
    expect(promoted.roleGrant.grantedBy?.email).toBe("root@teams.test");
    const puppetCaller = await api.caller(await api.signIn(puppet.email, puppet.password));
    const refused = await puppetCaller.approvals
      .approve({ id: req.approvalRequestId, comment: "ok" })
      .catch((e) => e);
    expect(codeOf(refused)).toBe("FORBIDDEN");
    expect(String(refused.message)).toContain("the requester gave you that role");
    expect(await ownersOf(theirs)).toEqual([owner.id]);

    // Nor does a team role that such a site admin gave themselves.
    await puppetCaller.teams.addMember({ teamId: team.id, email: puppet.email, role: "approver" });
    const own = await site.teams.requestVmRuleChange({
      teamId: team.id,
      change: { op: "add", rule: { kind: "name-pattern", pattern: "silverx-*" } },
      reason: "More of Silver's VMs",
    });
    expect(own.otherTeams).toEqual([]);
    const selfMade = await puppetCaller.approvals
      .approve({ id: own.approvalRequestId, comment: "ok" })
      .catch((e) => e);
    expect(codeOf(selfMade)).toBe("FORBIDDEN");
    expect(String(selfMade.message)).toContain("the requester gave you that role");
  });
});
