import { createTestApi } from "@lifeboat/api/testing";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { stopBosses } from "@lifeboat/jobs";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { startWorker, type Worker } from "../src/worker";

let t: TestDatabase;
let worker: Worker;

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  worker = await startWorker({ databaseUrl: t.url, pollingIntervalSeconds: 0.5 });
});
afterAll(async () => {
  await worker.stop();
  await stopBosses();
  await t.drop();
});

it("processes a job enqueued through the API and records its result in the catalog", async () => {
  const api = createTestApi(t.db, t.url);
  const admin = await api.createUser({ email: "ops@lifeboat.test", role: "admin" });
  const caller = await api.caller(await api.signIn(admin.email, admin.password));
  const { jobId } = await caller.system.ping({ message: "are you there?" });

  let job = await t.db.job.findUniqueOrThrow({ where: { id: jobId } });
  for (let i = 0; i < 100 && job.state !== "succeeded" && job.state !== "failed"; i++) {
    await new Promise((r) => setTimeout(r, 200));
    job = await t.db.job.findUniqueOrThrow({ where: { id: jobId } });
  }
  expect(job.state).toBe("succeeded");
  expect(job.result).toMatchObject({ echo: "are you there?", worker: expect.stringMatching(/:\d+$/) });
  expect(job.startedAt!.getTime()).toBeLessThanOrEqual(job.finishedAt!.getTime());
  // Visible through the API as well.
  expect((await caller.jobs.get({ id: jobId })).state).toBe("succeeded");
});
