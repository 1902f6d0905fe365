import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { createJobQueue, stopBosses } from "@lifeboat/jobs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runDueSchedules } from "../src/policies-run";
import { describeSchedule, parseSchedule, planTicks } from "../src/schedules";

const at = (iso: string) => new Date(iso);
/** In-app notifications only: the missed-run notices of these tests go to nobody outside. */
const NOTIFY = { publicUrl: "http://localhost:3000" };

describe("schedules in words and next runs", () => {
  it("describes a schedule and lists the next 5 runs in the policy's zone, across a DST change", () => {
    const d = describeSchedule("30 2 * * *", "Europe/Berlin", at("2026-03-27T12:00:00Z"));
    expect(d.words).toBe("At 02:30 (Europe/Berlin)");
    expect(d.nextRuns.map((r) => r.toISOString())).toEqual([
      "2026-03-28T01:30:00.000Z", // 02:30 CET
      "2026-03-29T01:00:00.000Z", // 02:30 does not exist that night: 03:00 CEST
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
      "2026-03-31T00:30:00.000Z",
      "2026-04-01T00:30:00.000Z",
    ]);
    expect(describeSchedule("0 22 * * 1-5", "UTC", at("2026-01-01T00:00:00Z")).words).toBe(
      "At 22:00, Monday through Friday (UTC)",
    );
  });

  it("runs a fixed time once on a fall-back night", () => {
    const runs = describeSchedule("30 1 * * *", "America/New_York", at("2026-10-31T12:00:00Z"), 3).nextRuns;
    expect(runs.map((r) => r.toISOString())).toEqual([
      "2026-11-01T05:30:00.000Z", // 01:30 EDT, the first of the two
      "2026-11-02T06:30:00.000Z",
      "2026-11-03T06:30:00.000Z",
    ]);
  });

  it.each([
    ["61 * * * *", "UTC", /not a valid cron expression/],
    ["* * *", "UTC", /has 3 field\(s\)/],
    ["30 2 * * *", "Europe/Nowhere", /Unknown time zone "Europe\/Nowhere"/],
    ["0 0 30 2 *", "UTC", /never runs/],
    ["*/5 * * * * *", "UTC", /more than once a minute/],
    ["@fortnightly", "UTC", /Unknown schedule/],
    ["", "UTC", /empty/],
  ])("refuses %j in %s with words an operator can act on", (expr, tz, message) => {
    expect(() => parseSchedule(expr, tz)).toThrow(message);
  });

  it("accepts 6 fields with fixed seconds, and nicknames", () => {
    expect(
      describeSchedule("15 30 2 * * *", "UTC", at("2026-01-01T00:00:00Z"), 1).nextRuns[0]?.toISOString(),
    ).toBe("2026-01-01T02:30:15.000Z");
    expect(describeSchedule("@daily", "UTC", at("2026-01-01T05:00:00Z"), 1).nextRuns[0]?.toISOString()).toBe(
      "2026-01-02T00:00:00.000Z",
    );
  });
});

describe("planTicks: which ticks run and which are missed", () => {
  const daily = { schedule: "30 2 * * *", timeZone: "Europe/Berlin", windowMinutes: 120 };

  it("runs the tick that just fell", () => {
    const plan = planTicks({ ...daily, after: at("2026-05-01T00:29:00Z"), now: at("2026-05-01T00:30:20Z") });
    expect(plan.ticks).toEqual([{ scheduledFor: at("2026-05-01T00:30:00Z"), action: "run" }]);
  });

  it("plans nothing before the tick, and includes a tick exactly at now", () => {
    expect(
      planTicks({ ...daily, after: at("2026-05-01T00:00:00Z"), now: at("2026-05-01T00:29:59Z") }).ticks,
    ).toEqual([]);
    expect(
      planTicks({ ...daily, after: at("2026-05-01T00:00:00Z"), now: at("2026-05-01T00:30:00Z") }).ticks,
    ).toHaveLength(1);
    // A tick at `after` itself was handled by whoever set `after`.
    expect(
      planTicks({ ...daily, after: at("2026-05-01T00:30:00Z"), now: at("2026-05-01T00:40:00Z") }).ticks,
    ).toEqual([]);
  });

  it("runs a missed tick once a worker returns inside the window, records it missed after", () => {
    const inside = planTicks({
      ...daily,
      after: at("2026-04-30T12:00:00Z"),
      now: at("2026-05-01T02:29:00Z"),
    });
    expect(inside.ticks).toEqual([{ scheduledFor: at("2026-05-01T00:30:00Z"), action: "run" }]);
    const outside = planTicks({
      ...daily,
      after: at("2026-04-30T12:00:00Z"),
      now: at("2026-05-01T02:31:00Z"),
    });
    expect(outside.ticks).toEqual([
      {
        scheduledFor: at("2026-05-01T00:30:00Z"),
        action: "missed",
        reason: expect.stringMatching(/end of its 120-minute window/),
      },
    ]);
  });

  it("after a long outage runs only the newest tick inside the window; the older ones are missed", () => {
    const plan = planTicks({
      schedule: "0 * * * *",
      timeZone: "UTC",
      windowMinutes: 90,
      after: at("2026-05-01T00:30:00Z"),
      now: at("2026-05-01T05:10:00Z"),
    });
    expect(plan.ticks.map((t) => [t.scheduledFor.toISOString().slice(11, 16), t.action])).toEqual([
      ["01:00", "missed"],
      ["02:00", "missed"],
      ["03:00", "missed"],
      ["04:00", "missed"],
      ["05:00", "run"],
    ]);
    // 04:00 was still inside its window, but the 05:00 run covers it.
    expect(plan.ticks[3]?.reason).toMatch(/the run scheduled for 2026-05-01T05:00:00.000Z covers it/);
    expect(plan.ticks[0]?.reason).toMatch(/window/);
  });

  it("bounds the ticks it lists and counts the rest", () => {
    const plan = planTicks({
      schedule: "* * * * *",
      timeZone: "UTC",
      windowMinutes: 10,
      after: at("2026-05-01T00:00:00Z"),
      now: at("2026-05-01T03:00:30Z"),
      limit: 50,
    });
    expect(plan.ticks).toHaveLength(50);
    expect(plan.ticks.at(-1)).toEqual({ scheduledFor: at("2026-05-01T03:00:00Z"), action: "run" });
    // 180 ticks from 00:01 to 03:00: 50 listed, 130 counted.
    expect(plan.earlierMissed).toBe(130);
  });

  it("fires at the first minute after a spring-forward gap, and once on a fall-back night", () => {
    const spring = planTicks({
      ...daily,
      after: at("2026-03-28T12:00:00Z"),
      now: at("2026-03-29T01:05:00Z"),
    });
    expect(spring.ticks).toEqual([{ scheduledFor: at("2026-03-29T01:00:00Z"), action: "run" }]);
    const fall = planTicks({
      schedule: "30 1 * * *",
      timeZone: "America/New_York",
      windowMinutes: 180,
      after: at("2026-10-31T12:00:00Z"),
      now: at("2026-11-01T08:00:00Z"),
    });
    expect(fall.ticks).toEqual([{ scheduledFor: at("2026-11-01T05:30:00Z"), action: "run" }]);
  });
});

describe("runDueSchedules against the catalog", () => {
  let t: TestDatabase;
  let teamId: string;

  beforeAll(async () => {
    t = await createTestDatabase(inject("testDatabase"));
    teamId = randomUUID();
    await t.db.team.create({ data: { id: teamId, name: "Ops", slug: "ops" } });
  });
  afterAll(async () => {
    await stopBosses();
    await t.drop();
  });

  // Verify schedules with no restore points make runs that start nothing, so the claim logic is seen alone.
  async function policy(
    name: string,
    verifySchedule: string,
    updatedAt: Date,
    windowMinutes = 60,
    enabled = true,
  ) {
    const p = await t.db.policy.create({
      data: {
        teamId,
        name,
        schedule: "0 0 1 1 *",
        verifySchedule,
        windowMinutes,
        enabled,
        includeTeamVms: true,
      },
    });
    await t.db.$executeRaw`UPDATE policy SET "updatedAt" = ${updatedAt} WHERE id = ${p.id}`;
    return p.id;
  }

  it("claims each tick once however many workers tick at the same moment", async () => {
    const queue = createJobQueue(t.db, t.url);
    const id = await policy("every-minute", "* * * * *", at("2026-05-01T09:57:30Z"));
    const now = at("2026-05-01T10:00:10Z");
    const outcomes = (
      await Promise.all(Array.from({ length: 8 }, () => runDueSchedules(t.db, queue, NOTIFY, now)))
    ).flat();
    const runs = await t.db.policyRun.findMany({ where: { policyId: id }, orderBy: { scheduledFor: "asc" } });
    expect(runs.map((r) => [r.scheduledFor.toISOString().slice(11, 16), r.state])).toEqual([
      ["09:58", "missed"],
      ["09:59", "missed"],
      ["10:00", "skipped"],
    ]);
    // Exactly one caller reported each claimed tick.
    expect(outcomes.filter((o) => o.policyId === id)).toHaveLength(3);
    expect(runs[2]?.details).toMatchObject({ reason: "No restore point needs verifying." });
    // Ticking again changes nothing.
    await runDueSchedules(t.db, queue, NOTIFY, now);
    expect(await t.db.policyRun.count({ where: { policyId: id } })).toBe(3);
  });

  it("runs a missed tick inside its window once, and records one outside its window as missed", async () => {
    const queue = createJobQueue(t.db, t.url);
    const inside = await policy("inside", "30 8 * * *", at("2026-05-01T00:00:00Z"), 60);
    const outside = await policy("outside", "0 8 * * *", at("2026-05-01T00:00:00Z"), 60);
    const now = at("2026-05-01T09:15:00Z");
    await Promise.all([runDueSchedules(t.db, queue, NOTIFY, now), runDueSchedules(t.db, queue, NOTIFY, now)]);
    await runDueSchedules(t.db, queue, NOTIFY, at("2026-05-01T09:20:00Z"));
    const insideRuns = await t.db.policyRun.findMany({ where: { policyId: inside } });
    const outsideRuns = await t.db.policyRun.findMany({ where: { policyId: outside } });
    expect(insideRuns.map((r) => [r.scheduledFor.toISOString(), r.state])).toEqual([
      ["2026-05-01T08:30:00.000Z", "skipped"],
    ]);
    expect(insideRuns[0]?.startedAt).not.toBeNull();
    expect(outsideRuns.map((r) => [r.scheduledFor.toISOString(), r.state])).toEqual([
      ["2026-05-01T08:00:00.000Z", "missed"],
    ]);
    expect(outsideRuns[0]?.startedAt).toBeNull();
    expect(outsideRuns[0]?.details).toMatchObject({ reason: expect.stringMatching(/60-minute window/) });
  });

  it("ignores disabled policies and never backfills ticks from before the policy's last change", async () => {
    const queue = createJobQueue(t.db, t.url);
    const off = await policy("paused", "* * * * *", at("2026-05-01T00:00:00Z"), 60, false);
    const changed = await policy("changed", "0 8 * * *", at("2026-05-01T08:10:00Z"), 600);
    await runDueSchedules(t.db, queue, NOTIFY, at("2026-05-01T09:00:00Z"));
    expect(await t.db.policyRun.count({ where: { policyId: { in: [off, changed] } } })).toBe(0);
  });
});
