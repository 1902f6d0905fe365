import { randomUUID } from "node:crypto";
import { getBoss } from "@lifeboat/jobs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "./support/stack";

/**
 * Policy schedules with two real workers on one database: pg-boss delivers `policy.tick`, each worker evaluates
 * every policy, and the PolicyRun claim makes each tick run once. Backups run for real against the simulator.
 */

let s: Stack;
let operatorId: string;

beforeAll(async () => {
  s = await startStack();
  await s.startWorker();
  await s.startWorker();
  const member = await s.t.db.membership.findFirstOrThrow({ where: { teamId: s.teamId, role: "operator" } });
  operatorId = member.userId;
});
afterAll(async () => {
  await s?.stop();
});

/** A policy of the stack's team, last changed `changedAgo` ms ago (ticks before that are never looked at). */
async function policy(
  name: string,
  schedule: string,
  vmIds: string[],
  changedAgo: number,
  windowMinutes = 60,
) {
  const p = await s.t.db.policy.create({
    data: {
      teamId: s.teamId,
      name,
      schedule,
      timezone: "UTC",
      windowMinutes,
      keepLast: 5,
      vms: { create: vmIds.map((vmId) => ({ vmId })) },
    },
  });
  await s.t.db
    .$executeRaw`UPDATE policy SET "updatedAt" = ${new Date(Date.now() - changedAgo)} WHERE id = ${p.id}`;
  return p.id;
}

/** "m h * * *" for the UTC wall-clock time `msAgo` ago: a daily schedule whose last tick was then. */
function dailyAt(msAgo: number): { cron: string; at: Date } {
  const at = new Date(Date.now() - msAgo);
  at.setUTCSeconds(0, 0);
  return { cron: `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`, at };
}

/** Sends `n` ticks at once (what several workers' crons and duplicate deliveries amount to) and waits for them. */
async function tick(n: number) {
  const boss = await getBoss(s.t.url);
  await Promise.all(Array.from({ length: n }, () => boss.send("policy.tick", {})));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [row] = await s.t.db.$queryRaw<Array<{ n: bigint }>>`
      SELECT count(*) AS n FROM pgboss.job WHERE name = 'policy.tick' AND state IN ('created', 'retry', 'active')`;
    if (Number(row?.n ?? 0) === 0) return;
    if (Date.now() > deadline) throw new Error("policy.tick jobs did not finish");
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function until<T>(
  read: () => Promise<T | null | undefined>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runsOf(policyId: string) {
  return s.t.db.policyRun.findMany({ where: { policyId }, orderBy: { scheduledFor: "asc" } });
}

describe("policy schedules with two workers", () => {
  it("schedules the tick every minute and GC daily, through pg-boss", async () => {
    const rows = await s.t.db.$queryRaw<Array<{ name: string; cron: string }>>`
      SELECT name, cron FROM pgboss.schedule WHERE name IN ('policy.tick', 'repository.gc') ORDER BY name`;
    expect(rows).toEqual([
      { name: "policy.tick", cron: "* * * * *" },
      { name: "repository.gc", cron: "30 3 * * *" },
    ]);
  });

  it("fires each tick once however many ticks arrive, one backup per VM, and backs up for real", async () => {
    const web = await s.vmRow("web01");
    const id = await policy("every minute", "* * * * *", [web.id], 150_000);
    await tick(6);
    const runs = await runsOf(id);
    const started = runs.filter((r) => r.state === "started");
    expect(started.length).toBeGreaterThanOrEqual(1);
    // Each tick has one row (the unique key), and the jobs of the policy are exactly those its runs started.
    expect(new Set(runs.map((r) => r.scheduledFor.getTime())).size).toBe(runs.length);
    const recorded = runs.flatMap((r) =>
      (r.details as { jobs: Array<{ jobId: string }> }).jobs.map((j) => j.jobId),
    );
    const jobs = await s.t.db.job.findMany({ where: { policyId: id, type: "backup.vm" } });
    expect(jobs.map((j) => j.id).sort()).toEqual(recorded.sort());
    // The first tick after the change ran; the two before it (same window) are recorded as covered by it.
    const firstStarted = started[0]!;
    const before = runs.filter((r) => r.scheduledFor < firstStarted.scheduledFor);
    expect(before.every((r) => r.state === "missed")).toBe(true);
    const job = await s.waitJob(recorded[0]!, ["succeeded"]);
    expect(job).toMatchObject({ vmId: web.id, teamId: s.teamId, policyId: id });
    const rp = await s.t.db.restorePoint.findUniqueOrThrow({ where: { id: job.restorePointId ?? "" } });
    expect(rp).toMatchObject({ policyId: id, state: "complete", description: "Policy every minute" });
    // The backup's success queued the prune of that VM under the policy.
    const prune = await until(
      () =>
        s.t.db.job.findFirst({
          where: { type: "prune.vm", policyId: id, vmId: web.id },
          orderBy: { createdAt: "asc" },
        }),
      "the prune after the backup",
    );
    expect((await s.waitJob(prune.id, ["succeeded"])).result).toMatchObject({ deleted: [], kept: 1 });
    // Real minute ticks keep coming: pause it for the rest of the file.
    await s.t.db.policy.update({ where: { id }, data: { enabled: false } });
  });

  it("runs a tick missed while no worker ran once, inside its window; outside it, records it missed", async () => {
    const db01 = await s.vmRow("db01");
    const app01 = await s.vmRow("app01");
    const inside = dailyAt(20 * 60_000);
    const outside = dailyAt(90 * 60_000);
    const late = await policy("inside the window", inside.cron, [db01.id], 3 * 3600_000, 60);
    const missed = await policy("outside the window", outside.cron, [app01.id], 3 * 3600_000, 60);
    await tick(4);
    await tick(2);
    const lateRuns = await runsOf(late);
    expect(lateRuns.map((r) => [r.scheduledFor.toISOString(), r.state])).toEqual([
      [inside.at.toISOString(), "started"],
    ]);
    const lateJobs = await s.t.db.job.findMany({ where: { policyId: late, type: "backup.vm" } });
    expect(lateJobs).toHaveLength(1);
    await s.waitJob(lateJobs[0]!.id, ["succeeded"]);
    const missedRuns = await runsOf(missed);
    expect(missedRuns.map((r) => [r.scheduledFor.toISOString(), r.state])).toEqual([
      [outside.at.toISOString(), "missed"],
    ]);
    expect(await s.t.db.job.count({ where: { policyId: missed } })).toBe(0);
    // The team hears about the backup that did not happen, once.
    const told = await s.t.db.notification.findMany({
      where: { userId: operatorId, kind: "policy.run.missed" },
    });
    expect(told.map((n) => n.title)).toEqual(["Policy outside the window missed 1 scheduled backup"]);
  });

  it("tells the team when a scheduled backup fails", async () => {
    // A VM the inventory still lists but the engine no longer has.
    const ghost = await s.t.db.vm.create({
      data: { engineId: s.engineId, vmId: randomUUID(), name: "ghost01" },
    });
    const { recomputeVmTeams } = await import("@lifeboat/domain");
    await recomputeVmTeams(s.t.db, { engineId: s.engineId });
    const at = dailyAt(5 * 60_000);
    const id = await policy("ghost", at.cron, [ghost.id], 3600_000);
    await tick(3);
    const job = await s.t.db.job.findFirstOrThrow({ where: { policyId: id, type: "backup.vm" } });
    await s.waitJob(job.id, ["failed"]);
    const told = await until(async () => {
      const rows = await s.t.db.notification.findMany({
        where: { kind: "policy.job.failed", link: `/jobs/${job.id}` },
      });
      return rows.length > 0 ? rows : null;
    }, "the failure notification");
    expect(told.map((n) => [n.userId, n.teamId])).toEqual([[operatorId, s.teamId]]);
    expect(told[0]?.title).toBe("Scheduled backup of ghost01 failed (policy ghost)");
    // No prune follows a failed backup.
    expect(await s.t.db.job.count({ where: { type: "prune.vm", policyId: id } })).toBe(0);
  });
});
