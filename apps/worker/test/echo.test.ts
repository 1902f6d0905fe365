import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import type { Permission } from "@lifeboat/domain";
import { startEcho, visibleJob } from "@lifeboat/domain";
import { createJobQueue, stopBosses } from "@lifeboat/jobs";
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

it("processes a job enqueued through the API and records its result in the catalog", async () => {
  const queue = createJobQueue(t.db, t.url);
  const admin = await createPerson(t.db, { email: "ops@lifeboat.test", siteAdmin: true });
  const run = async <T>(permission: Permission, op: (c: Acting) => Promise<T>) =>
    op(await acting(t.db, queue, admin, permission));
  const { jobId } = await run("site:diagnostics", (c) => startEcho(c, c.actor, "are you there?"));

  let job = await t.db.job.findUniqueOrThrow({ where: { id: jobId } });
  for (let i = 0; i < 100 && job.state !== "succeeded" && job.state !== "failed"; i++) {
    await new Promise((r) => setTimeout(r, 200));
    job = await t.db.job.findUniqueOrThrow({ where: { id: jobId } });
  }
  expect(job.state).toBe("succeeded");
  expect(job.result).toMatchObject({ echo: "are you there?", worker: expect.stringMatching(/:\d+$/) });
  expect(job.startedAt!.getTime()).toBeLessThanOrEqual(job.finishedAt!.getTime());
  // Visible through the API as well.
  expect((await run("job:read", (c) => visibleJob(c.db, c.actor, jobId))).state).toBe("succeeded");
});
