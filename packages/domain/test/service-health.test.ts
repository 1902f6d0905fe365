import { getDb } from "@lifeboat/db";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { serviceHealth, WORKER_LIVE_MS } from "../src/service-health";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
});
afterAll(async () => {
  await t.drop();
});
beforeEach(async () => {
  await t.db.workerHeartbeat.deleteMany();
  await t.db.serviceStatus.deleteMany();
});

const now = new Date("2026-12-07T16:00:00Z");
const ago = (ms: number) => new Date(now.getTime() - ms);

describe("serviceHealth", () => {
  it("says that no worker runs until one renews its heartbeat, and forgets a stale one", async () => {
    expect((await serviceHealth(t.db, now)).problems).toEqual([
      "No worker is running: backups, restores and verifies wait until one runs.",
    ]);
    await t.db.workerHeartbeat.create({ data: { id: "w1", host: "h", pid: 1, seenAt: ago(5_000) } });
    const fine = await serviceHealth(t.db, now);
    expect(fine).toMatchObject({ database: true, liveWorkers: 1, problems: [] });
    await t.db.workerHeartbeat.update({ where: { id: "w1" }, data: { seenAt: ago(WORKER_LIVE_MS + 1_000) } });
    const stale = await serviceHealth(t.db, now);
    expect(stale.liveWorkers).toBe(0);
    expect(stale.problems[0]).toMatch(/^No worker is running: the last one was seen 2026-12-07T15:59/);
  });

  it("reports supervised services that restart, were given up on, or restarted within the hour", async () => {
    await t.db.workerHeartbeat.create({ data: { id: "w1", host: "h", pid: 1, seenAt: now } });
    await t.db.serviceStatus.createMany({
      data: [
        {
          host: "h",
          name: "worker",
          state: "restarting",
          restarts: 2,
          lastExitReason: "signal SIGKILL",
          lastExitAt: ago(1_000),
        },
        {
          host: "h",
          name: "web",
          state: "failed",
          restarts: 5,
          lastExitReason: "exit code 1",
          lastExitAt: ago(1_000),
        },
        {
          host: "h",
          name: "postgres",
          state: "running",
          restarts: 1,
          lastExitReason: "signal SIGKILL",
          lastExitAt: ago(60_000),
        },
      ],
    });
    expect((await serviceHealth(t.db, now)).problems).toEqual([
      "The embedded PostgreSQL was restarted once (last exit: signal SIGKILL).",
      "The web server kept exiting and was given up on (last exit: exit code 1); Lifeboat stopped.",
      "The worker exited and is being restarted (last exit: signal SIGKILL).",
    ]);
    // A restart long ago is history, not a banner.
    await t.db.serviceStatus.deleteMany({ where: { name: { in: ["web", "worker"] } } });
    await t.db.serviceStatus.update({
      where: { host_name: { host: "h", name: "postgres" } },
      data: { lastExitAt: ago(2 * 3600_000) },
    });
    expect((await serviceHealth(t.db, now)).problems).toEqual([]);
  });

  it("says the database does not answer instead of throwing", async () => {
    const unreachable = getDb("postgresql://nobody@127.0.0.1:1/none");
    const h = await serviceHealth(unreachable, now);
    expect(h).toMatchObject({ database: false, liveWorkers: 0, problems: ["The database does not answer."] });
    await unreachable.$disconnect();
  });
});
