import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestApi } from "../src/testing";

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let teamA: string;
let teamB: string;
type Person = Awaited<ReturnType<typeof person>>;
let operator: Person;
let viewer: Person;
let outsider: Person;

const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));

async function person(email: string, role: string, teamId: string) {
  const u = await api.createUser({ email, name: `Name of ${email.split("@")[0]}` });
  await t.db.membership.create({ data: { id: randomUUID(), teamId, userId: u.id, role } });
  return { ...u, caller: await api.caller(await api.signIn(u.email, u.password)) };
}

async function job(teamId: string | null, over: Record<string, unknown> = {}) {
  return t.db.job.create({ data: { type: "system.echo", teamId, input: { message: "x" }, ...over } });
}

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  teamA = randomUUID();
  teamB = randomUUID();
  await t.db.team.createMany({
    data: [
      { id: teamA, name: "A", slug: `a-${teamA.slice(0, 6)}` },
      { id: teamB, name: "B", slug: `b-${teamB.slice(0, 6)}` },
    ],
  });
  operator = await person("operator@jobs.test", "operator", teamA);
  viewer = await person("viewer@jobs.test", "viewer", teamA);
  outsider = await person("outsider@jobs.test", "operator", teamB);
});
afterAll(async () => {
  await stopBosses();
  await t.drop();
});

describe("jobs.list", () => {
  it("lists the caller's teams' jobs newest first, filtered, one keyset page after another", async () => {
    const vmId = randomUUID();
    const base = Date.now() - 60_000;
    const mine = [];
    for (let i = 0; i < 5; i++)
      mine.push(
        await job(teamA, {
          type: i % 2 ? "backup.vm" : "verify",
          state: i < 2 ? "succeeded" : "queued",
          vmId: i === 4 ? vmId : null,
          createdAt: new Date(base + i * 1000),
        }),
      );
    await job(teamB, { type: "backup.vm", createdAt: new Date(base + 10_000) });
    await job(null, { type: "backup.vm", createdAt: new Date(base + 11_000) });

    const all = await viewer.caller.jobs.list({ limit: 100 });
    expect(all.items.map((j) => j.id)).toEqual(mine.map((j) => j.id).reverse());

    const pages: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await viewer.caller.jobs.list({ limit: 2, cursor });
      pages.push(...page.items.map((j) => j.id));
      if (!page.hasMore) break;
      cursor = page.items[page.items.length - 1]?.id;
    }
    expect(pages).toEqual(all.items.map((j) => j.id));

    const backups = await viewer.caller.jobs.list({ type: ["backup.vm"] });
    expect(backups.items.every((j) => j.type === "backup.vm" && j.teamId === teamA)).toBe(true);
    expect(backups.items).toHaveLength(2);
    const queued = await viewer.caller.jobs.list({ state: ["queued"] });
    expect(queued.items.map((j) => j.id).sort()).toEqual(
      mine
        .slice(2)
        .map((j) => j.id)
        .sort(),
    );
    expect((await viewer.caller.jobs.list({ vmId })).items.map((j) => j.id)).toEqual([mine[4]?.id]);
    // Another team's filter finds nothing for members of A.
    expect((await viewer.caller.jobs.list({ teamId: teamB })).items).toEqual([]);
  });
});

describe("jobs.get and jobs.events", () => {
  it("shows progress, leftovers and the event log, following it after the last event seen", async () => {
    const j = await job(teamA, {
      type: "backup.vm",
      state: "running",
      phase: "downloading layers from the engine",
      bytesDone: 3n * 1024n ** 3n,
      bytesTotal: 4n * 1024n ** 3n,
      rate: 1234.5,
      heartbeatAt: new Date(),
      attempts: 1,
    });
    await t.db.leftover.create({
      data: {
        jobId: j.id,
        engineId: randomUUID(),
        kind: "snapshot",
        objectId: "snap-1",
        description: "temporary backup snapshot: 409",
      },
    });
    const view = await viewer.caller.jobs.get({ id: j.id });
    expect(view).toMatchObject({
      state: "running",
      phase: "downloading layers from the engine",
      bytesDone: 3 * 1024 ** 3,
      bytesTotal: 4 * 1024 ** 3,
      rate: 1234.5,
      attempts: 1,
      leftovers: [{ kind: "snapshot", objectId: "snap-1" }],
      // Its input names no mode (queued before backups had modes): auto, as the worker reads it.
      backupMode: "auto",
    });
    const full = await job(teamA, { type: "backup.vm", input: { mode: "full" } });
    expect((await viewer.caller.jobs.get({ id: full.id })).backupMode).toBe("full");
    expect((await viewer.caller.jobs.get({ id: (await job(teamA)).id })).backupMode).toBeNull();
    for (let i = 0; i < 5; i++)
      await t.db.jobEvent.create({ data: { jobId: j.id, step: `step ${i}`, message: `message ${i}` } });
    const first = await viewer.caller.jobs.events({ id: j.id, limit: 3 });
    expect(first.items.map((e) => e.step)).toEqual(["step 0", "step 1", "step 2"]);
    expect(first.hasMore).toBe(true);
    const rest = await viewer.caller.jobs.events({ id: j.id, afterId: first.items[2]?.id });
    expect(rest.items.map((e) => e.step)).toEqual(["step 3", "step 4"]);
    expect(rest.hasMore).toBe(false);
    await expect(outsider.caller.jobs.events({ id: j.id })).rejects.toSatisfy(
      (e) => codeOf(e) === "NOT_FOUND",
    );
    await expect(outsider.caller.jobs.get({ id: j.id })).rejects.toSatisfy((e) => codeOf(e) === "NOT_FOUND");
  });
});

describe("jobs.cancel", () => {
  it("ends a queued job at once, with an audit row", async () => {
    const j = await job(teamA, { type: "backup.vm" });
    const view = await operator.caller.jobs.cancel({ id: j.id });
    expect(view).toMatchObject({ state: "cancelled", cancelRequested: true });
    expect(view.error).toContain("operator@jobs.test");
    expect(await t.db.auditEvent.count({ where: { action: "job.cancelled", targetId: j.id } })).toBe(1);
    expect(
      await t.db.auditEvent.count({ where: { action: "jobs.cancel", targetId: j.id, outcome: "success" } }),
    ).toBe(1);
  });

  it("asks a running job to stop (its worker ends it), and refuses a finished one", async () => {
    const running = await job(teamA, {
      type: "backup.vm",
      state: "running",
      attempts: 1,
      heartbeatAt: new Date(),
    });
    const view = await operator.caller.jobs.cancel({ id: running.id });
    expect(view).toMatchObject({ state: "running", cancelRequested: true });
    const events = await operator.caller.jobs.events({ id: running.id });
    expect(events.items.map((e) => e.message)).toEqual([expect.stringMatching(/^cancel requested by/)]);
    const done = await job(teamA, { state: "succeeded" });
    await expect(operator.caller.jobs.cancel({ id: done.id })).rejects.toSatisfy(
      (e) => codeOf(e) === "CONFLICT",
    );
  });

  it("is for those who may cancel, in their own teams", async () => {
    const j = await job(teamA);
    await expect(viewer.caller.jobs.cancel({ id: j.id })).rejects.toSatisfy((e) => codeOf(e) === "FORBIDDEN");
    await expect(outsider.caller.jobs.cancel({ id: j.id })).rejects.toSatisfy(
      (e) => codeOf(e) === "NOT_FOUND",
    );
    expect((await t.db.job.findUniqueOrThrow({ where: { id: j.id } })).state).toBe("queued");
  });
});
