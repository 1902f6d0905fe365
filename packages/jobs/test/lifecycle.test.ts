import type { Job } from "@lifeboat/db";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  acquireEngineSlot,
  claimJob,
  completeJob,
  engineJournal,
  enqueueJob,
  JobFailure,
  JobRun,
  requestCancel,
  runJob,
  stopBosses,
  sweepStaleJobs,
} from "../src";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
});
afterAll(async () => {
  await stopBosses();
  await t?.drop();
});

const lease = { leaseMs: 3000, heartbeatMs: 50 };

async function queuedJob(type = "system.echo", input: object = { message: "hi" }): Promise<Job> {
  return t.db.job.create({ data: { type, input } });
}

async function events(jobId: string) {
  return t.db.jobEvent.findMany({ where: { jobId }, orderBy: { id: "asc" } });
}

describe("the job lifecycle on PostgreSQL", () => {
  it("enqueues a row and its pg-boss delivery", async () => {
    const id = await enqueueJob(t.db, t.url, "system.echo", { message: "queued" }, { createdBy: null });
    const row = await t.db.job.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({
      type: "system.echo",
      state: "queued",
      attempts: 0,
      input: { message: "queued" },
    });
    const [delivered] = await t.db.$queryRaw<Array<{ data: { jobId: string } }>>`
      SELECT data FROM pgboss.job WHERE name = 'system.echo'`;
    expect(delivered?.data.jobId).toBe(id);
  });

  it("runs a claimed job to succeeded, its commit in the same transaction, and reports the finished row", async () => {
    const job = await queuedJob();
    const finished: Job[] = [];
    await runJob(
      t.db,
      "system.echo",
      job.id,
      async ({ input, run, complete }) => {
        expect(input).toEqual({ message: "hi" });
        run.progress({ phase: "download", bytesDone: 10, bytesTotal: 40, rate: 0 });
        run.event("info", "step", "halfway");
        return complete({ echoed: input.message }, async (tx) => {
          await tx.jobEvent.create({
            data: { jobId: job.id, level: "info", step: "commit", message: "with it" },
          });
        });
      },
      new AbortController().signal,
      { ...lease, onFinished: async (row) => void finished.push(row) },
    );
    const row = await t.db.job.findUniqueOrThrow({ where: { id: job.id } });
    expect(row).toMatchObject({
      state: "succeeded",
      attempts: 1,
      result: { echoed: "hi" },
      phase: null,
      error: null,
    });
    expect(row.bytesDone).toBe(10n);
    expect(row.bytesTotal).toBe(40n);
    expect(finished.map((f) => f.state)).toEqual(["succeeded"]);
    expect((await events(job.id)).map((e) => e.step)).toEqual(["step", "commit", "end"]);
    // A duplicate delivery of a finished job changes nothing.
    await runJob(
      t.db,
      "system.echo",
      job.id,
      async () => ({ again: true }),
      new AbortController().signal,
      lease,
    );
    expect((await t.db.job.findUniqueOrThrow({ where: { id: job.id } })).result).toEqual({ echoed: "hi" });
  });

  it("fails a job with the words and the result of a JobFailure", async () => {
    const job = await queuedJob();
    await runJob(
      t.db,
      "system.echo",
      job.id,
      async () => {
        throw new JobFailure("3 chunks are damaged", { bad: 3 });
      },
      new AbortController().signal,
      lease,
    );
    const row = await t.db.job.findUniqueOrThrow({ where: { id: job.id } });
    expect(row).toMatchObject({ state: "failed", error: "3 chunks are damaged", result: { bad: 3 } });
    expect((await events(job.id)).at(-1)?.message).toMatch(/^failed after .* s: 3 chunks are damaged$/);
  });

  it("fences a stale attempt: another worker takes the row over after the lease, the old one writes nothing", async () => {
    const job = await queuedJob();
    const first = await claimJob(t.db, job.id, lease.leaseMs);
    expect(first?.attempts).toBe(1);
    // A live holder keeps the row: a duplicate delivery claims nothing.
    expect(await claimJob(t.db, job.id, lease.leaseMs)).toBeNull();
    const old = new JobRun(t.db, first as Job, 60_000);
    await t.db.job.update({ where: { id: job.id }, data: { heartbeatAt: new Date(Date.now() - 10_000) } });
    const second = await claimJob(t.db, job.id, lease.leaseMs);
    expect(second).toMatchObject({ attempts: 2, phase: "resuming" });
    await expect(completeJob(t.db, old, { stale: true })).rejects.toThrow(/another worker took it over/);
    await expect(
      old.engineObject({ kind: "snapshot", id: "s1", vmId: "v1", state: "created", purpose: "backup" }),
    ).rejects.toThrow(/another worker took it over/);
    expect(old.abortCause).toBe("lease-lost");
    const current = new JobRun(t.db, second as Job, 60_000);
    await current.engineObject({
      kind: "snapshot",
      id: "s2",
      vmId: "v1",
      state: "created",
      purpose: "backup",
    });
    expect((await engineJournal(t.db, job.id)).map((r) => r.id)).toEqual(["s2"]);
    // Every kind a flow journals reads back, the backup API's VM backup among them (with its VM).
    for (const kind of ["image_transfer", "backup", "disk", "vm"] as const)
      await current.engineObject({ kind, id: `${kind}-1`, vmId: "v1", state: "created", purpose: "test" });
    expect((await engineJournal(t.db, job.id)).map((r) => `${r.kind}:${r.id}:${r.vmId}`)).toEqual([
      "snapshot:s2:v1",
      "image_transfer:image_transfer-1:v1",
      "backup:backup-1:v1",
      "disk:disk-1:v1",
      "vm:vm-1:v1",
    ]);
    await completeJob(t.db, current, { fresh: true });
    expect(await t.db.job.findUniqueOrThrow({ where: { id: job.id } })).toMatchObject({
      state: "succeeded",
      result: { fresh: true },
    });
  });

  it("cancels a queued job at once and a running one through its heartbeat", async () => {
    const queued = await queuedJob();
    const dropped = await requestCancel(t.db, queued.id, "Ann <ann@example.test>");
    expect(dropped.ended).toMatchObject({
      state: "cancelled",
      error: "Cancelled by Ann <ann@example.test> before it started.",
    });

    const running = await queuedJob();
    let asked: Promise<{ ended: Job | null }> | undefined;
    await runJob(
      t.db,
      "system.echo",
      running.id,
      async ({ run }) => {
        asked = requestCancel(t.db, running.id, "Ann <ann@example.test>");
        await new Promise((_, reject) =>
          run.signal.addEventListener("abort", () => reject(run.signal.reason)),
        );
        return undefined;
      },
      new AbortController().signal,
      lease,
    );
    expect((await asked)?.ended).toBeNull();
    const row = await t.db.job.findUniqueOrThrow({ where: { id: running.id } });
    expect(row).toMatchObject({ state: "cancelled", cancelRequested: true, error: "Cancelled on request." });
    expect((await events(running.id)).map((e) => e.message)).toContain(
      "cancel requested by Ann <ann@example.test>",
    );
  });

  it("hands a job back to the queue when its worker stops, and the sweep resends stale rows", async () => {
    const job = await queuedJob();
    const stopping = new AbortController();
    const requeued: string[] = [];
    await runJob(
      t.db,
      "system.echo",
      job.id,
      async ({ run }) => {
        stopping.abort();
        run.signal.throwIfAborted();
        return undefined;
      },
      stopping.signal,
      { ...lease, requeue: async (_type, id) => void requeued.push(id) },
    );
    expect(requeued).toEqual([job.id]);
    expect(await t.db.job.findUniqueOrThrow({ where: { id: job.id } })).toMatchObject({
      state: "queued",
      attempts: 1,
    });

    const dead = await queuedJob();
    await claimJob(t.db, dead.id, lease.leaseMs);
    await t.db.job.updateMany({
      where: { id: { in: [job.id, dead.id] } },
      data: { heartbeatAt: new Date(Date.now() - 10_000) },
    });
    const sent: string[] = [];
    const swept = await sweepStaleJobs(t.db, lease.leaseMs, async (_type, id) => void sent.push(id));
    expect(new Set(swept)).toEqual(new Set([job.id, dead.id]));
    expect(new Set(sent)).toEqual(new Set([job.id, dead.id]));
    expect((await t.db.job.findUniqueOrThrow({ where: { id: dead.id } })).state).toBe("queued");
    // A fresh heartbeat keeps a row out of the next sweep.
    expect(await sweepStaleJobs(t.db, lease.leaseMs, async () => undefined)).toEqual([]);
  });

  it("holds an engine to its concurrency limit across connections until a slot is released", async () => {
    const engine = { id: crypto.randomUUID(), name: "engine-a" };
    const first = await acquireEngineSlot(t.url, engine, 1);
    const waiting: string[] = [];
    const second = acquireEngineSlot(t.url, engine, 1, { pollMs: 50, onWaiting: (p) => waiting.push(p) });
    await new Promise((r) => setTimeout(r, 300));
    expect(waiting).toEqual(["waiting for a free slot on engine engine-a (1 job at a time)"]);
    await first.release();
    const got = await second;
    expect(got.index).toBe(0);
    await got.release();
    const ac = new AbortController();
    const held = await acquireEngineSlot(t.url, engine, 1);
    const refused = acquireEngineSlot(t.url, engine, 1, { pollMs: 50, signal: ac.signal });
    ac.abort(new Error("cancelled"));
    await expect(refused).rejects.toThrow("cancelled");
    await held.release();
  });
});
