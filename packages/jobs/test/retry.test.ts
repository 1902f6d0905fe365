import { databaseUnavailable, getDb } from "@lifeboat/db";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type JobType, runJob, stopBosses, TRANSIENT_ATTEMPTS } from "../src";

let t: TestDatabase;
let outage: unknown;
beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  // The error a job body really gets while the catalog database is down.
  outage = await getDb("postgresql://postgres@127.0.0.1:1/postgres")
    .job.findFirst()
    .catch((e: unknown) => e);
});
afterAll(async () => {
  await stopBosses();
  await t?.drop();
});

/** Runs deliveries of the job as pg-boss would, each attempt's body given; returns the delays asked for. */
async function deliver(jobId: string, bodies: Array<() => Promise<void>>, leaseMs = 60_000) {
  const sent: Array<{ type: JobType; delayMs?: number }> = [];
  for (const body of bodies)
    await runJob(
      t.db,
      "system.echo",
      jobId,
      async () => {
        await body();
        return { ok: true };
      },
      new AbortController().signal,
      {
        leaseMs,
        heartbeatMs: 50,
        transient: databaseUnavailable,
        requeue: async (type, _id, opts) => void sent.push({ type, delayMs: opts?.delayMs }),
      },
    );
  return sent;
}

const events = (jobId: string) =>
  t.db.jobEvent.findMany({ where: { jobId, step: "retry" }, orderBy: { id: "asc" } });

describe("transient infrastructure failures", () => {
  it("retries a job the database outage stopped, with back-off, and it succeeds once the database is back", async () => {
    const job = await t.db.job.create({ data: { type: "system.echo", input: { message: "hi" } } });
    const down = async () => {
      throw outage;
    };
    const sent = await deliver(job.id, [down, down]);
    expect(sent).toEqual([
      { type: "system.echo", delayMs: 5000 },
      { type: "system.echo", delayMs: 10_000 },
    ]);
    const waiting = await t.db.job.findUniqueOrThrow({ where: { id: job.id } });
    expect(waiting).toMatchObject({ state: "queued", attempts: 2, error: null });
    expect(waiting.phase).toBe(
      "retrying in 10 s: the catalog database at 127.0.0.1:1 could not be reached (DatabaseNotReachable)",
    );
    expect((await events(job.id)).map((e) => [e.level, e.message])).toEqual([
      [
        "warn",
        `attempt 1 of ${TRANSIENT_ATTEMPTS} stopped: the catalog database at 127.0.0.1:1 could not be reached (DatabaseNotReachable); trying again in 5 s`,
      ],
      [
        "warn",
        `attempt 2 of ${TRANSIENT_ATTEMPTS} stopped: the catalog database at 127.0.0.1:1 could not be reached (DatabaseNotReachable); trying again in 10 s`,
      ],
    ]);
    await deliver(job.id, [async () => undefined]);
    expect(await t.db.job.findUniqueOrThrow({ where: { id: job.id } })).toMatchObject({
      state: "succeeded",
      attempts: 3,
      result: { ok: true },
    });
  });

  it("gives up after the last attempt in an operator's words, not Prisma's", async () => {
    const job = await t.db.job.create({ data: { type: "system.echo", input: { message: "hi" } } });
    const down = async () => {
      throw outage;
    };
    // with a short lease the back-off stays within half of it
    const sent = await deliver(job.id, Array(TRANSIENT_ATTEMPTS).fill(down), 4000);
    expect(sent.map((s) => s.delayMs)).toEqual(Array(TRANSIENT_ATTEMPTS - 1).fill(2000));
    const row = await t.db.job.findUniqueOrThrow({ where: { id: job.id } });
    expect(row.state).toBe("failed");
    expect(row.attempts).toBe(TRANSIENT_ATTEMPTS);
    expect(row.error).toBe(
      `Failed after ${TRANSIENT_ATTEMPTS} attempts: the catalog database at 127.0.0.1:1 could not be reached (DatabaseNotReachable).`,
    );
    expect(row.error).not.toMatch(/prisma|invocation/i);
  });

  it("fails any other error at once", async () => {
    const job = await t.db.job.create({ data: { type: "system.echo", input: { message: "hi" } } });
    const sent = await deliver(job.id, [
      async () => {
        throw new Error("the OVF names no disks");
      },
    ]);
    expect(sent).toEqual([]);
    expect(await t.db.job.findUniqueOrThrow({ where: { id: job.id } })).toMatchObject({
      state: "failed",
      attempts: 1,
      error: "the OVF names no disks",
    });
  });
});
