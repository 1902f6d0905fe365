import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import type { Permission } from "@lifeboat/domain";
import { startEcho } from "@lifeboat/domain";
import { createJobQueue, getBoss, stopBosses } from "@lifeboat/jobs";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { startWorker, type Worker } from "../src/worker";
import { type Acting, acting, createPerson, testConfig } from "./support/people";

let t: TestDatabase;
let worker: Worker;

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  worker = await startWorker({ databaseUrl: t.url, config: testConfig(), pollingIntervalSeconds: 0.5 });
});
afterAll(async () => {
  await worker.stop();
  await stopBosses();
  await t.drop();
});

async function until<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  let v = await read();
  for (let i = 0; i < 100 && !done(v); i++) {
    await new Promise((r) => setTimeout(r, 200));
    v = await read();
  }
  return v;
}

it("schedules approvals.expire every minute and expires overdue requests when it fires", async () => {
  const schedules = await t.db.$queryRaw<Array<{ name: string; cron: string }>>`
    select name, cron from pgboss.schedule where name = 'approvals.expire'`;
  expect(schedules).toEqual([{ name: "approvals.expire", cron: "* * * * *" }]);

  const teamId = randomUUID();
  await t.db.team.create({ data: { id: teamId, name: "Expiring", slug: "expiring" } });
  const overdue = await t.db.approvalRequest.create({
    data: {
      teamId,
      kind: "team.assignment",
      payload: {},
      summary: "overdue",
      reason: "r",
      requestedById: "u",
      requestedByName: "U",
      requestedByEmail: "u@worker.test",
      expiresAt: new Date(Date.now() - 1000),
    },
  });
  // What a schedule tick sends: the job type with no catalog row.
  await (await getBoss(t.url)).send("approvals.expire", {});
  const row = await until(
    () => t.db.approvalRequest.findUniqueOrThrow({ where: { id: overdue.id } }),
    (r) => r.state !== "pending",
  );
  expect(row.state).toBe("expired");
  expect(await t.db.auditEvent.count({ where: { action: "approval.expired", targetId: overdue.id } })).toBe(
    1,
  );
  // A tick leaves no job row behind for users to see.
  expect(await t.db.job.count({ where: { type: "approvals.expire" } })).toBe(0);
});

it("writes every job's outcome to the audit log", async () => {
  const queue = createJobQueue(t.db, t.url);
  const admin = await createPerson(t.db, { email: "ops@worker.test", siteAdmin: true });
  const run = async <T>(permission: Permission, op: (c: Acting) => Promise<T>) =>
    op(await acting(t.db, queue, admin, permission));
  const { jobId } = await run("site:diagnostics", (c) => startEcho(c, c.actor, "audit me"));
  const row = await until(
    () => t.db.auditEvent.findFirst({ where: { targetId: jobId, action: { startsWith: "job." } } }),
    (r) => r !== null,
  );
  expect(row).toMatchObject({
    action: "job.succeeded",
    outcome: "success",
    actorId: admin.userId,
    targetType: "job",
  });
});
