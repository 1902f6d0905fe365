import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import {
  approvalRequired,
  expireApprovals,
  registerApprovalExecutor,
  requestApproval,
} from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { createTestApi } from "../src/testing";
import { createCallerFactory, procedure, router } from "../src/trpc";

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let teamId: string;
let otherTeamId: string;
type Person = Awaited<ReturnType<typeof person>>;
let operator: Person;
let approver: Person;
let approver2: Person;
let teamAdmin: Person;
let outsider: Person;
let siteAdmin: Person;
let executions: string[];
let failNext: string | null;

const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));

async function person(email: string, role: "admin" | "user" = "user") {
  const u = await api.createUser({ email, name: `Name of ${email.split("@")[0]}`, role });
  const headers = await api.signIn(u.email, u.password);
  return { ...u, headers, caller: await api.caller(headers) };
}

// A procedure that files a request the way other areas do (restore, deletion…), through requestApproval.
const requestProc = procedure
  .meta({ permission: "restore:request" })
  .input(z.object({ teamId: z.string(), reason: z.string(), note: z.string() }))
  .mutation(({ ctx, input }) =>
    requestApproval(ctx, {
      teamId: input.teamId,
      kind: "restore-point.delete",
      payload: { note: input.note },
      summary: `Delete restore point ${input.note}`,
      reason: input.reason,
      target: { type: "restore_point", id: input.note },
    }),
  );
const testRouter = router({ request: requestProc });

async function fileRequest(p: Person, note = randomUUID().slice(0, 8), team = teamId) {
  const { createContext } = await import("../src/context");
  const caller = createCallerFactory(testRouter)(
    await createContext({
      db: t.db,
      auth: api.auth,
      queue: api.queue,
      headers: p.headers,
      config: api.config,
    }),
  );
  return caller.request({ teamId: team, reason: "Disk full on the repository", note });
}

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  executions = [];
  failNext = null;
  // What runs on approval: a job is enqueued, so "the job runs only after approval" is observable.
  registerApprovalExecutor(
    "restore-point.delete",
    async ({ queue, request, payload, requester }) => {
      if (failNext === payload.note) throw new Error("the restore point is locked by a running backup");
      executions.push(payload.note);
      const jobId = await queue.enqueue(
        "system.echo",
        { message: `delete ${payload.note}` },
        { createdBy: requester.userId, teamId: request.teamId },
      );
      return { jobId, result: { note: payload.note } };
    },
    { payload: z.object({ note: z.string() }) },
  );
  teamId = randomUUID();
  otherTeamId = randomUUID();
  await t.db.team.createMany({
    data: [
      { id: teamId, name: "Storage", slug: "storage", approvalTtlHours: 2 },
      { id: otherTeamId, name: "Elsewhere", slug: "elsewhere" },
    ],
  });
  operator = await person("operator@approvals.test");
  approver = await person("approver@approvals.test");
  approver2 = await person("approver2@approvals.test");
  teamAdmin = await person("admin@approvals.test");
  outsider = await person("outsider@approvals.test");
  siteAdmin = await person("site@approvals.test", "admin");
  const member = (userId: string, team: string, role: string) =>
    t.db.membership.create({ data: { id: randomUUID(), teamId: team, userId, role } });
  await member(operator.id, teamId, "operator");
  await member(approver.id, teamId, "approver");
  await member(approver2.id, teamId, "approver");
  await member(teamAdmin.id, teamId, "admin");
  await member(outsider.id, otherTeamId, "approver");
});
afterAll(async () => {
  await stopBosses();
  await t.drop();
});

const jobsFor = (note: string) =>
  t.db.job.count({ where: { type: "system.echo", input: { path: ["message"], equals: `delete ${note}` } } });

describe("requests", () => {
  it("record who asked (name and e-mail), why, and expire after the team's time", async () => {
    const before = Date.now();
    const req = await fileRequest(operator, "rp-1");
    const row = await t.db.approvalRequest.findUniqueOrThrow({ where: { id: req.id } });
    expect(row).toMatchObject({
      state: "pending",
      kind: "restore-point.delete",
      reason: "Disk full on the repository",
      requestedById: operator.id,
      requestedByName: "Name of operator",
      requestedByEmail: "operator@approvals.test",
      targetType: "restore_point",
    });
    const ttl = row.expiresAt.getTime() - before;
    expect(ttl).toBeGreaterThan(2 * 3600_000 - 5_000);
    expect(ttl).toBeLessThan(2 * 3600_000 + 5_000);
    expect(await jobsFor("rp-1")).toBe(0);
    const audit = await t.db.auditEvent.findFirstOrThrow({
      where: { action: "approval.requested", targetId: req.id },
    });
    expect(audit).toMatchObject({ actorId: operator.id, teamId, ip: "203.0.113.7", userAgent: "vitest" });
  });

  it("need a reason, a registered kind, and a team the requester belongs to", async () => {
    const { createContext } = await import("../src/context");
    const ctx = {
      ...(await createContext({
        db: t.db,
        auth: api.auth,
        queue: api.queue,
        headers: operator.headers,
        config: api.config,
      })),
      actor: { userId: operator.id, name: "n", email: operator.email, siteAdmin: false, teamIds: [teamId] },
    };
    const base = { teamId, kind: "restore-point.delete" as const, payload: { note: "x" }, summary: "s" };
    await expect(requestApproval(ctx, { ...base, reason: "   " })).rejects.toThrow(/reason is required/);
    await expect(requestApproval(ctx, { ...base, payload: {}, reason: "r" })).rejects.toThrow(/incomplete/);
    // Every kind Lifeboat knows has an executor now: a kind nobody registered stands for a future one.
    await expect(
      requestApproval(ctx, { ...base, kind: "not.registered" as never, reason: "r" }),
    ).rejects.toThrow(/cannot run approved/);
    await expect(requestApproval(ctx, { ...base, teamId: otherTeamId, reason: "r" })).rejects.toThrow(
      /not a member/,
    );
  });

  it("say which operations need approval", () => {
    const off = { requireApprovalForRestores: false, requireApprovalForDownloads: false };
    const on = { requireApprovalForRestores: true, requireApprovalForDownloads: true };
    expect(approvalRequired(off, "restore.vm")).toBe(false);
    expect(approvalRequired(off, "restore.vm", { collidesWithExistingVm: true })).toBe(true);
    expect(approvalRequired(on, "restore.vm")).toBe(true);
    expect(approvalRequired(off, "restore.disk")).toBe(false);
    expect(approvalRequired(off, "image.download")).toBe(false);
    expect(approvalRequired(on, "image.download")).toBe(true);
    for (const k of ["restore-point.delete", "policy.change", "team.assignment"] as const)
      expect(approvalRequired(off, k)).toBe(true);
  });
});

describe("decisions", () => {
  it("the requester can never approve their own request, whatever their role", async () => {
    const req = await fileRequest(teamAdmin, "self");
    const err = await teamAdmin.caller.approvals
      .approve({ id: req.id, comment: "me, myself" })
      .catch((e) => e);
    expect(codeOf(err)).toBe("FORBIDDEN");
    expect((err as Error).message).toMatch(/own request/);
    const view = await teamAdmin.caller.approvals.get({ id: req.id });
    expect(view).toMatchObject({ state: "pending", canDecide: false, canCancel: true });
    expect(await jobsFor("self")).toBe(0);
    const denied = await t.db.auditEvent.findFirstOrThrow({
      where: { action: "approvals.approve", targetId: req.id },
    });
    expect(denied).toMatchObject({ outcome: "failure", actorId: teamAdmin.id, teamId });
  });

  it("only approvers of the owning team decide; site administration alone is not enough", async () => {
    const req = await fileRequest(operator, "who");
    expect(codeOf(await operator.caller.approvals.get({ id: req.id }).then(() => "visible"))).toBe("visible");
    expect(
      codeOf(await outsider.caller.approvals.approve({ id: req.id, comment: "x" }).catch((e) => e)),
    ).toBe("NOT_FOUND");
    expect(
      codeOf(await siteAdmin.caller.approvals.approve({ id: req.id, comment: "x" }).catch((e) => e)),
    ).toBe("FORBIDDEN");
    expect(
      codeOf(await operator.caller.approvals.approve({ id: req.id, comment: "x" }).catch((e) => e)),
    ).toBe("FORBIDDEN");
    expect(
      codeOf(await approver.caller.approvals.approve({ id: req.id, comment: "  " }).catch((e) => e)),
    ).toBe("BAD_REQUEST");
    expect(await jobsFor("who")).toBe(0);
  });

  it("the job is enqueued only on approval, once, with both people recorded", async () => {
    const req = await fileRequest(operator, "go");
    expect(await jobsFor("go")).toBe(0);
    const view = await approver.caller.approvals.approve({ id: req.id, comment: "Checked the retention" });
    expect(view).toMatchObject({
      state: "approved",
      requestedBy: { id: operator.id, name: "Name of operator", email: "operator@approvals.test" },
      decidedBy: { id: approver.id, name: "Name of approver", email: "approver@approvals.test" },
      decisionComment: "Checked the retention",
      canDecide: false,
    });
    expect(view.jobId).toBeTruthy();
    expect(view.executedAt).toBeInstanceOf(Date);
    const job = await t.db.job.findUniqueOrThrow({ where: { id: view.jobId ?? "" } });
    expect(job).toMatchObject({ state: "queued", createdBy: operator.id, teamId });
    expect(await jobsFor("go")).toBe(1);

    const again = await approver2.caller.approvals.approve({ id: req.id, comment: "me too" }).catch((e) => e);
    expect(codeOf(again)).toBe("CONFLICT");
    expect((again as Error).message).toMatch(
      /already approved by Name of approver <approver@approvals.test>/,
    );
    const late = await approver2.caller.approvals.reject({ id: req.id, comment: "no" }).catch((e) => e);
    expect(codeOf(late)).toBe("CONFLICT");
    expect(await jobsFor("go")).toBe(1);
    const executed = await t.db.auditEvent.findFirstOrThrow({
      where: { action: "approval.executed", targetId: req.id },
    });
    expect(executed).toMatchObject({ outcome: "success", actorId: approver.id });
    expect(executed.details).toMatchObject({ jobId: view.jobId });
  });

  it("two approvers deciding at once: exactly one wins and the job runs once", async () => {
    const req = await fileRequest(operator, "race");
    const results = await Promise.allSettled([
      approver.caller.approvals.approve({ id: req.id, comment: "first" }),
      approver2.caller.approvals.approve({ id: req.id, comment: "second" }),
      teamAdmin.caller.approvals.reject({ id: req.id, comment: "third" }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results.filter((r) => r.status === "rejected"))
      expect(codeOf((r as PromiseRejectedResult).reason)).toBe("CONFLICT");
    const row = await t.db.approvalRequest.findUniqueOrThrow({ where: { id: req.id } });
    expect(await jobsFor("race")).toBe(row.state === "approved" ? 1 : 0);
    expect(executions.filter((n) => n === "race").length).toBe(row.state === "approved" ? 1 : 0);
  });

  it("a rejection runs nothing and tells the requester", async () => {
    const req = await fileRequest(operator, "no");
    const view = await approver.caller.approvals.reject({ id: req.id, comment: "Keep it for the audit" });
    expect(view).toMatchObject({ state: "rejected", decidedBy: { email: "approver@approvals.test" } });
    expect(await jobsFor("no")).toBe(0);
    const note = await t.db.notification.findFirstOrThrow({
      where: { userId: operator.id, kind: "approval.rejected" },
      orderBy: { createdAt: "desc" },
    });
    expect(note.body).toMatch(/Name of approver <approver@approvals.test> rejected it/);
    expect(note.link).toBe(`/approvals?id=${req.id}`);
  });

  it("an expired request cannot be decided, and nothing runs", async () => {
    const req = await fileRequest(operator, "late");
    await t.db.approvalRequest.update({
      where: { id: req.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const err = await approver.caller.approvals.approve({ id: req.id, comment: "oops" }).catch((e) => e);
    expect(codeOf(err)).toBe("PRECONDITION_FAILED");
    expect((err as Error).message).toMatch(/expired/);
    expect((await t.db.approvalRequest.findUniqueOrThrow({ where: { id: req.id } })).state).toBe("expired");
    expect(await jobsFor("late")).toBe(0);
    expect(
      await t.db.auditEvent.count({
        where: { action: "approval.expired", targetId: req.id, outcome: "success" },
      }),
    ).toBe(1);
    expect(
      await t.db.notification.count({
        where: { userId: operator.id, kind: "approval.expired", link: { contains: req.id } },
      }),
    ).toBe(1);
  });

  it("the sweep expires overdue requests once and fails approvals that never ran", async () => {
    const a = await fileRequest(operator, "sweep-a");
    await t.db.approvalRequest.update({
      where: { id: a.id },
      data: { expiresAt: new Date(Date.now() - 60_000) },
    });
    const stuck = await fileRequest(operator, "stuck");
    await t.db.approvalRequest.update({
      where: { id: stuck.id },
      data: { state: "approved", decidedAt: new Date(Date.now() - 3600_000), decidedById: approver.id },
    });
    const first = await expireApprovals(t.db, { notify: api.notify });
    expect(first.expired).toBeGreaterThanOrEqual(1);
    expect(first.interrupted).toBe(1);
    expect(await expireApprovals(t.db, { notify: api.notify })).toEqual({ expired: 0, interrupted: 0 });
    expect((await t.db.approvalRequest.findUniqueOrThrow({ where: { id: a.id } })).state).toBe("expired");
    expect((await t.db.approvalRequest.findUniqueOrThrow({ where: { id: stuck.id } })).state).toBe("failed");
    expect(await jobsFor("sweep-a")).toBe(0);
    expect(await jobsFor("stuck")).toBe(0);
  });

  it("an executor that fails leaves the request failed with the reason", async () => {
    const req = await fileRequest(operator, "locked");
    failNext = "locked";
    const view = await approver.caller.approvals.approve({ id: req.id, comment: "go ahead" });
    failNext = null;
    expect(view).toMatchObject({
      state: "failed",
      executionError: "the restore point is locked by a running backup",
    });
    expect(await jobsFor("locked")).toBe(0);
    const row = await t.db.auditEvent.findFirstOrThrow({
      where: { action: "approval.executed", targetId: req.id },
    });
    expect(row.outcome).toBe("failure");
  });

  it("only the requester withdraws a pending request", async () => {
    const req = await fileRequest(operator, "withdraw");
    expect(codeOf(await approver.caller.approvals.cancel({ id: req.id }).catch((e) => e))).toBe("FORBIDDEN");
    expect((await operator.caller.approvals.cancel({ id: req.id })).state).toBe("cancelled");
    expect(
      codeOf(await approver.caller.approvals.approve({ id: req.id, comment: "x" }).catch((e) => e)),
    ).toBe("CONFLICT");
    expect(codeOf(await operator.caller.approvals.cancel({ id: req.id }).catch((e) => e))).toBe("CONFLICT");
  });
});

describe("inbox", () => {
  it("counts and lists what waits for each person, never another team's requests", async () => {
    const mine = await fileRequest(operator, "inbox-1");
    await t.db.approvalRequest.create({
      data: {
        teamId: otherTeamId,
        kind: "restore-point.delete",
        payload: { note: "foreign" },
        summary: "foreign",
        reason: "foreign",
        requestedById: siteAdmin.id,
        requestedByName: "s",
        requestedByEmail: siteAdmin.email,
        expiresAt: new Date(Date.now() + 3600_000),
      },
    });
    const counts = await approver.caller.approvals.counts();
    const inbox = await approver.caller.approvals.list({ view: "inbox" });
    expect(counts.awaitingMyDecision).toBe(inbox.items.length);
    expect(inbox.items.map((i) => i.id)).toContain(mine.id);
    expect(inbox.items.every((i) => i.teamId === teamId && i.state === "pending" && i.canDecide)).toBe(true);

    expect((await operator.caller.approvals.counts()).awaitingMyDecision).toBe(0);
    const own = await operator.caller.approvals.list({ view: "mine" });
    expect(own.items.every((i) => i.requestedBy.id === operator.id)).toBe(true);
    expect((await operator.caller.approvals.counts()).myPending).toBe(
      own.items.filter((i) => i.state === "pending").length,
    );
    const teamView = await operator.caller.approvals.list({ view: "team", limit: 100 });
    expect(teamView.items.every((i) => i.teamId === teamId)).toBe(true);
    expect((await outsider.caller.approvals.list({ view: "team" })).items.map((i) => i.summary)).toEqual([
      "foreign",
    ]);

    // Pages follow one another without gaps or repeats.
    const all = [];
    let cursor: string | undefined;
    do {
      const pageOf = await operator.caller.approvals.list({ view: "team", limit: 3, cursor });
      all.push(...pageOf.items.map((i) => i.id));
      cursor = pageOf.hasMore ? pageOf.items.at(-1)?.id : undefined;
    } while (cursor);
    expect(all).toEqual(teamView.items.map((i) => i.id));
  });
});
