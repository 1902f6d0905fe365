import { randomUUID } from "node:crypto";
import { CLIENT_IP_HEADER } from "@lifeboat/auth";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import {
  ANONYMOUS_DENIAL_ROWS,
  AUDIT_CSV_COLUMNS,
  AUDIT_USER_AGENT_MAX,
  auditCsvStream,
  auditSearchText,
  csvField,
  flushAnonymousDenials,
  recordAudit,
  recordJobOutcome,
} from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { MAX_TRPC_BATCH } from "../src/http/limits";
import { createTestApi } from "../src/testing";

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let site: Awaited<ReturnType<typeof api.caller>>;
let teamA: string;
let teamB: string;
type Person = { id: string; email: string; caller: Awaited<ReturnType<typeof api.caller>> };
const people: Record<string, Person> = {};

const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));
const who = (role: string): Person => {
  const p = people[role];
  if (!p) throw new Error(role);
  return p;
};

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  const root = await api.createUser({ email: "root@audit.test", role: "admin", name: "Root" });
  site = await api.caller(await api.signIn(root.email, root.password));
  teamA = randomUUID();
  teamB = randomUUID();
  await t.db.team.createMany({
    data: [
      { id: teamA, name: "Audit A", slug: "audit-a" },
      { id: teamB, name: "Audit B", slug: "audit-b" },
    ],
  });
  for (const role of ["viewer", "operator", "approver", "admin"]) {
    const u = await api.createUser({ email: `${role}@audit.test`, name: `The ${role}` });
    await t.db.membership.create({ data: { id: randomUUID(), teamId: teamA, userId: u.id, role } });
    people[role] = {
      id: u.id,
      email: u.email,
      caller: await api.caller(await api.signIn(u.email, u.password)),
    };
  }
});
afterAll(async () => {
  await stopBosses();
  await t.drop();
});

describe("append-only", () => {
  it("rejects UPDATE, DELETE and TRUNCATE in PostgreSQL itself", async () => {
    await recordAudit(t.db, { action: "test.row", outcome: "success", details: { n: 1 } });
    const client = new pg.Client({ connectionString: t.url });
    await client.connect();
    try {
      for (const sql of [
        `UPDATE audit_event SET outcome = 'denied' WHERE action = 'test.row'`,
        `DELETE FROM audit_event WHERE action = 'test.row'`,
        `TRUNCATE audit_event`,
      ]) {
        const err = (await client.query(sql).catch((e) => e)) as { code?: string; message?: string };
        expect([sql, err.code]).toEqual([sql, "42501"]);
        expect(err.message).toMatch(/append-only/);
      }
    } finally {
      await client.end();
    }
    expect(await t.db.auditEvent.count({ where: { action: "test.row", outcome: "success" } })).toBe(1);
    await expect(t.db.auditEvent.deleteMany({ where: { action: "test.row" } })).rejects.toThrow(
      /append-only/,
    );
  });
});

describe("the guard's rows", () => {
  it("keeps each call's facts apart when one context serves several mutations (batched requests)", async () => {
    const team = await site.teams.create({ name: "Batch team" });
    const user = await site.users.create({ email: "batch@audit.test", name: "Batch" });
    const teamRow = await t.db.auditEvent.findFirstOrThrow({
      where: { action: "teams.create", targetId: team.id },
    });
    const userRow = await t.db.auditEvent.findFirstOrThrow({
      where: { action: "users.create", targetId: user.user.id },
    });
    expect(teamRow).toMatchObject({ teamId: team.id, targetType: "team" });
    expect(userRow).toMatchObject({ teamId: null, targetType: "user" });
  });

  it("records a denied mutation with the team it aimed at when the caller belongs to it, else without a team", async () => {
    const viewer = who("viewer");
    for (const teamId of [teamA, teamB]) {
      const err = await viewer.caller.teams
        .addMember({ teamId, email: "x@audit.test", role: "admin" })
        .catch((e) => e);
      expect(codeOf(err)).toBe("FORBIDDEN");
    }
    const rows = await t.db.auditEvent.findMany({
      where: { action: "teams.addMember", actorId: viewer.id },
      orderBy: { at: "asc" },
    });
    // Their own team's admins see the attempt; a team the viewer is not in gets no row written into its log.
    expect(rows.map((r) => r.teamId)).toEqual([teamA, null]);
    expect(rows[0]).toMatchObject({ outcome: "denied", ip: "203.0.113.7", userAgent: "vitest" });
  });
});

describe("denied calls without a session", () => {
  it("writes a bounded number of rows, counts the rest into one summary, without a team and with a cut user agent", async () => {
    const anonymous = await api.caller(
      new Headers({ "user-agent": `flood/${"x".repeat(8192)}`, [CLIENT_IP_HEADER]: "198.51.100.9" }),
    );
    const calls = 500;
    for (let i = 0; i < calls; i += MAX_TRPC_BATCH) {
      const batch = Array.from({ length: MAX_TRPC_BATCH }, () =>
        anonymous.teams.addMember({ teamId: teamA, email: "x@audit.test", role: "admin" }).catch(codeOf),
      );
      expect(new Set(await Promise.all(batch))).toEqual(new Set(["UNAUTHORIZED"]));
    }
    await flushAnonymousDenials(t.db);
    const rows = await t.db.auditEvent.findMany({
      where: { OR: [{ ip: "198.51.100.9" }, { action: "audit.anonymousDenials" }] },
    });
    // One window normally; a slow machine may see the flood straddle two.
    expect(rows.length).toBeLessThanOrEqual(2 * (ANONYMOUS_DENIAL_ROWS + 1));
    const single = rows.filter((r) => r.action === "teams.addMember");
    const summaries = rows.filter((r) => r.action === "audit.anonymousDenials");
    expect(single.length + summaries.length).toBe(rows.length);
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    const counted = summaries.reduce((n, r) => n + (r.details as { count: number }).count, 0);
    expect(single.length + counted).toBe(calls);
    for (const r of rows) expect(r).toMatchObject({ teamId: null, actorId: null, outcome: "denied" });
    for (const r of single) {
      expect(r.userAgent).toHaveLength(AUDIT_USER_AGENT_MAX);
      expect(r.userAgent?.startsWith("flood/xxx")).toBe(true);
    }
    expect(summaries[0]?.details).toMatchObject({
      actions: { "teams.addMember": expect.any(Number) },
      addresses: { "198.51.100.9": expect.any(Number) },
    });
  });
});

describe("job outcomes", () => {
  it("are written with the job's team and creator, and a failure notifies the creator", async () => {
    const job = await t.db.job.create({
      data: {
        type: "system.echo",
        teamId: teamA,
        createdBy: who("operator").id,
        state: "failed",
        error: "boom",
      },
    });
    await recordJobOutcome(t.db, job);
    const row = await t.db.auditEvent.findFirstOrThrow({ where: { action: "job.failed", targetId: job.id } });
    expect(row).toMatchObject({
      outcome: "failure",
      teamId: teamA,
      actorId: who("operator").id,
      actorEmail: "operator@audit.test",
      targetType: "job",
    });
    expect(row.details).toMatchObject({ type: "system.echo", error: "boom" });
    expect(await t.db.notification.count({ where: { userId: who("operator").id, kind: "job.failed" } })).toBe(
      1,
    );
    const ok = await t.db.job.create({ data: { type: "system.echo", teamId: teamA, state: "succeeded" } });
    await recordJobOutcome(t.db, ok);
    expect(
      (await t.db.auditEvent.findFirstOrThrow({ where: { action: "job.succeeded", targetId: ok.id } }))
        .outcome,
    ).toBe("success");
  });
});

describe("the audit page", () => {
  beforeAll(async () => {
    const base = new Date("2026-03-01T12:00:00Z").getTime();
    const rows = Array.from({ length: 30 }, (_, i) => ({
      action: i % 3 === 0 ? "fixture.approval.requested" : "fixture.teams.addMember",
      outcome: i % 5 === 0 ? ("denied" as const) : ("success" as const),
      teamId: i % 2 === 0 ? teamA : teamB,
      actorName: i % 2 === 0 ? "Alice Example" : "Bob Example",
      actorEmail: i % 2 === 0 ? "alice@audit.test" : "bob@audit.test",
      targetType: "vm",
      targetId: `vm-${i}`,
      details: { note: i === 7 ? "needle in the haystack" : "hay" },
      // Several rows share a timestamp: pagination must still neither skip nor repeat.
      at: new Date(base + Math.floor(i / 3) * 60_000),
    }));
    // recordAudit stamps the current time; these rows need known times, so they are inserted as it would.
    await t.db.auditEvent.createMany({ data: rows.map((r) => ({ ...r, searchText: auditSearchText(r) })) });
  });

  it("filters by actor, action, team, outcome, dates and free text", async () => {
    const list = (f: Parameters<typeof site.audit.list>[0]) => site.audit.list({ limit: 500, ...f });
    const day = { from: new Date("2026-03-01T00:00:00Z"), to: new Date("2026-03-02T00:00:00Z") };
    expect((await list(day)).items).toHaveLength(30);
    expect(
      (await list({ ...day, actor: "ALICE" })).items.every((r) => r.actorEmail === "alice@audit.test"),
    ).toBe(true);
    expect((await list({ ...day, actor: "alice" })).items).toHaveLength(15);
    expect((await list({ ...day, action: "fixture.approval." })).items).toHaveLength(10);
    expect((await list({ ...day, action: "fixture.teams.addMember" })).items).toHaveLength(20);
    expect((await list({ ...day, teamId: teamB })).items.every((r) => r.teamName === "Audit B")).toBe(true);
    expect((await list({ ...day, outcome: "denied" })).items).toHaveLength(6);
    expect((await list({ ...day, q: "NEEDLE in" })).items.map((r) => r.targetId)).toEqual(["vm-7"]);
    const narrow = await list({
      from: new Date("2026-03-01T12:03:00Z"),
      to: new Date("2026-03-01T12:04:00Z"),
    });
    expect(narrow.items.map((r) => r.targetId).sort()).toEqual([
      "vm-10",
      "vm-11",
      "vm-12",
      "vm-13",
      "vm-14",
      "vm-9",
    ]);
  });

  it("pages with a keyset cursor, newest first, without gaps or repeats", async () => {
    const day = { from: new Date("2026-03-01T00:00:00Z"), to: new Date("2026-03-02T00:00:00Z") };
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const p = await site.audit.list({ ...day, limit: 7, cursor });
      seen.push(...p.items.map((r) => r.targetId ?? ""));
      cursor = p.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(5);
    expect(new Set(seen).size).toBe(30);
    const all = await site.audit.list({ ...day, limit: 500 });
    expect(seen).toEqual(all.items.map((r) => r.targetId));
    const times = all.items.map((r) => r.at.getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(codeOf(await site.audit.list({ cursor: "garbage" }).catch((e) => e))).toBe("BAD_REQUEST");
  });

  it("shows team admins and approvers their team's rows only; others may not read it", async () => {
    for (const role of ["admin", "approver"]) {
      const rows = (await who(role).caller.audit.list({ limit: 500 })).items;
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.teamId === teamA)).toBe(true);
      expect((await who(role).caller.audit.list({ teamId: teamB })).items).toEqual([]);
    }
    for (const role of ["viewer", "operator"])
      expect(
        codeOf(
          await who(role)
            .caller.audit.list({})
            .catch((e) => e),
        ),
      ).toBe("FORBIDDEN");
    const all = (await site.audit.list({ limit: 500 })).items;
    expect(all.some((r) => r.teamId === null)).toBe(true);
  });
});

describe("CSV export", () => {
  it("quotes fields and defuses spreadsheet formulas", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField('say "hi", twice')).toBe('"say ""hi"", twice"');
    expect(csvField('=HYPERLINK("http://x")')).toBe('"\'=HYPERLINK(""http://x"")"');
    expect(csvField("+1")).toBe("'+1");
    expect(csvField(null)).toBe("");
    expect(csvField({ a: 1 })).toBe('"{""a"":1}"');
  });

  it("streams every matching row page by page, in the caller's scope", async () => {
    const teamId = randomUUID();
    await t.db.team.create({ data: { id: teamId, name: "Export", slug: "export" } });
    await t.db.membership.create({
      data: { id: randomUUID(), teamId, userId: who("admin").id, role: "admin" },
    });
    await t.db.auditEvent.createMany({
      data: Array.from({ length: 1203 }, (_, i) => ({
        action: "export.row",
        outcome: "success",
        teamId: i < 1200 ? teamId : teamB,
        actorEmail: i === 0 ? "=cmd|' /C calc'!A0" : "x@audit.test",
        targetId: `row-${i}`,
      })),
    });
    const caller = who("admin").caller;
    let pagesAsked = 0;
    const stream = auditCsvStream(
      (input) => {
        pagesAsked++;
        return caller.audit.list(input);
      },
      { action: "export.row" },
    );
    const text = await new Response(stream).text();
    const lines = text.trimEnd().split("\r\n");
    expect(lines[0]).toBe(AUDIT_CSV_COLUMNS.join(","));
    expect(lines).toHaveLength(1 + 1200);
    expect(pagesAsked).toBe(3);
    expect(text).not.toContain(",=cmd");
    expect(text).toContain("'=cmd");
    expect(lines.slice(1).every((l) => l.includes(",Export,"))).toBe(true);
  });
});
