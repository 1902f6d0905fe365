import {
  decideApproval,
  pinRestorePoint,
  requestRestorePointDeletion,
  runPolicyNow,
  startBackup,
  startRestoreVm,
} from "@lifeboat/domain";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guestHash, type Stack, startStack, vmGuestHashes } from "./support/stack";

/**
 * Retention for real: policy backups of a simulated VM through a worker, each followed by its prune; then GC.
 * Every restore point retention keeps stays restorable and verifiable, the pruned ones are gone from the catalog
 * and the repository, and GC makes the repository smaller — also while a backup runs beside it.
 */

let s: Stack;
let policyId: string;
let vmId: string;
let operatorId: string;
/** Guest data of web01 at each backup, by restore point id. */
const hashesAt = new Map<string, Map<string, string>>();
const points: string[] = [];

beforeAll(async () => {
  s = await startStack();
  await s.startWorker();
  vmId = (await s.vmRow("web01")).id;
  operatorId = (await s.t.db.membership.findFirstOrThrow({ where: { teamId: s.teamId, role: "operator" } }))
    .userId;
  const p = await s.t.db.policy.create({
    data: {
      teamId: s.teamId,
      name: "Keep one",
      // Never due during the test: runs are started by hand.
      schedule: "0 0 1 1 *",
      timezone: "UTC",
      keepLast: 1,
      keepDaily: 0,
      keepWeekly: 0,
      keepMonthly: 0,
      vms: { create: [{ vmId }] },
    },
  });
  policyId = p.id;
});
afterAll(async () => {
  await s?.stop();
});

async function until<T>(
  read: () => Promise<T | null | undefined>,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One policy backup of web01 after fresh guest writes; waits for it and for the prune it triggers. */
async function policyBackup(seed: number): Promise<string> {
  await s.sim.guest.write("web01", 3, { seed });
  const hashes = await vmGuestHashes(s.sim, "web01");
  const policy = await s.t.db.policy.findUniqueOrThrow({ where: { id: policyId } });
  const run = await runPolicyNow(s.t.db, s.queue, policy, "backup", {
    userId: operatorId,
    name: "Operator",
  });
  expect(run.state).toBe("started");
  const job = await s.waitJob(run.details.jobs[0]!.jobId, ["succeeded"]);
  const prune = await until(
    () =>
      s.t.db.job.findFirst({ where: { type: "prune.vm", policyId, createdAt: { gte: job.finishedAt! } } }),
    "the prune after the backup",
  );
  await s.waitJob(prune.id, ["succeeded"]);
  const rp = job.restorePointId!;
  hashesAt.set(rp, hashes);
  points.push(rp);
  return rp;
}

async function storedBytes(): Promise<number> {
  return (await (await s.repository()).stats()).storedBytes;
}

describe("prune after each policy backup, then GC", () => {
  it("keeps the newest and the pinned points, deletes the rest from catalog and repository, and GC shrinks it", async () => {
    const first = await policyBackup(11);
    await s.run(s.operator, "backup:create", (c) => pinRestorePoint(c, c.actor, first, true));
    await policyBackup(12);
    await policyBackup(13);
    const last = await policyBackup(14);
    const [, second, third] = points;
    // Retention: keep-last 1, and the pinned first point.
    const left = await s.t.db.restorePoint.findMany({ where: { policyId }, orderBy: { createdAt: "asc" } });
    expect(left.map((r) => r.id)).toEqual([first, last]);
    const repo = await s.repository();
    const manifests = new Set((await repo.listRestorePoints()).map((m) => m.id));
    for (const r of left) expect(manifests.has(r.manifestId!)).toBe(true);
    expect(manifests.size).toBe(2);
    const pruned = await s.t.db.auditEvent.findMany({
      where: { action: "restore-point.pruned", targetId: vmId },
    });
    expect(pruned.flatMap((a) => (a.details as { deleted: string[] }).deleted)).toEqual([second, third]);
    const deletedJobs = await s.t.db.job.findMany({
      where: { type: "prune.vm", policyId },
      orderBy: { createdAt: "asc" },
    });
    expect(deletedJobs.flatMap((j) => (j.result as { deleted: string[] }).deleted)).toEqual([second, third]);

    // GC reclaims what only the pruned points used (no grace: nothing is being written now).
    const before = await storedBytes();
    const gc = await s.queue.enqueue("repository.gc", { graceMinutes: 0 }, {});
    const gcJob = await s.waitJob(gc, ["succeeded"]);
    const after = await storedBytes();
    expect(after).toBeLessThan(before);
    expect(gcJob.result).toMatchObject({ remainingBytes: after, missingChunks: 0, missingLayers: 0 });
    expect((gcJob.result as { deletedChunks: number }).deletedChunks).toBeGreaterThan(0);
    const usage = await s.t.db.repositoryUsage.findFirstOrThrow({ orderBy: { at: "desc" } });
    expect(Number(usage.storedBytes)).toBe(after);
  });

  it("leaves every kept point verifiable and restorable with the data it was taken with", async () => {
    const policy = await s.t.db.policy.findUniqueOrThrow({ where: { id: policyId } });
    const verify = await runPolicyNow(s.t.db, s.queue, policy, "verify", {
      userId: "test",
      name: "test",
    });
    expect(verify.details.jobs.map((j) => j.restorePointId).sort()).toEqual([points[0], points[3]].sort());
    for (const j of verify.details.jobs) await s.waitJob(j.jobId, ["succeeded"]);
    for (const id of [points[0]!, points[3]!]) {
      const rp = await s.t.db.restorePoint.findUniqueOrThrow({ where: { id } });
      expect(rp.verifyState).toBe("ok");
      const started = await s.run(s.operator, "restore:request", (c) =>
        startRestoreVm(c, c.actor, {
          restorePointId: id,
          name: `web01-kept-${id.slice(0, 6)}`,
        }),
      );
      if (started.status !== "queued") throw new Error(`restore waits for approval: ${started.why}`);
      const job = await s.waitJob(started.jobId, ["succeeded"]);
      const restored = job.result as { disks: Array<{ sourceDiskId: string; diskId: string }> };
      const expected = hashesAt.get(id)!;
      expect(restored.disks).toHaveLength(expected.size);
      for (const d of restored.disks)
        expect(await guestHash(s.sim, d.diskId)).toBe(expected.get(d.sourceDiskId));
    }
    expect((await (await s.repository()).verify()).ok).toBe(true);
  });

  it("GC beside a running backup keeps everything that backup wrote before its restore point exists", async () => {
    await s.sim.guest.write("db01", 3, { seed: 21 });
    const db01 = await s.vmRow("db01");
    const hashes = await vmGuestHashes(s.sim, "db01");
    // Hold the backup's first transfer at finalize: its layer is in the repository, no restore point names it.
    const hold = s.sim.faults.holdTransfer({ phase: "finalizing_success" });
    const { jobId } = await s.run(s.operator, "backup:create", (c) =>
      startBackup(c, c.actor, { vmId: db01.id }),
    );
    await until(
      async () => s.sim.state.transfers().some((t) => t.phase === "finalizing_success"),
      "the backup's transfer to reach finalize",
    );
    const gc = await s.queue.enqueue("repository.gc", { graceMinutes: 0 }, {});
    const gcJob = await s.waitJob(gc, ["succeeded"]);
    expect(gcJob.result).toMatchObject({ activeSessions: 1 });
    hold.remove();
    const job = await s.waitJob(jobId, ["succeeded"]);
    const rp = await s.t.db.restorePoint.findUniqueOrThrow({ where: { id: job.restorePointId! } });
    expect((await (await s.repository()).verify({ pointId: rp.manifestId! })).ok).toBe(true);
    const started = await s.run(s.operator, "restore:request", (c) =>
      startRestoreVm(c, c.actor, { restorePointId: rp.id, name: "db01-after-gc" }),
    );
    if (started.status !== "queued") throw new Error(`restore waits for approval: ${started.why}`);
    const restored = (await s.waitJob(started.jobId, ["succeeded"])).result as {
      disks: Array<{ sourceDiskId: string; diskId: string }>;
    };
    expect(restored.disks).toHaveLength(hashes.size);
    for (const d of restored.disks) expect(await guestHash(s.sim, d.diskId)).toBe(hashes.get(d.sourceDiskId));
  });

  it("deletes a point by hand only after approval, once unpinned, from the catalog and the repository", async () => {
    const first = points[0]!;
    await expect(
      s.run(s.operator, "backup:create", (c) =>
        requestRestorePointDeletion(c, c.actor, { restorePointId: first, reason: "space" }),
      ),
    ).rejects.toThrow(/pinned: unpin it first/);
    await s.run(s.admin, "policy:manage", (c) => pinRestorePoint(c, c.actor, first, false));
    const req = await s.run(s.operator, "backup:create", (c) =>
      requestRestorePointDeletion(c, c.actor, { restorePointId: first, reason: "space" }),
    );
    const approver = await s.member("approver");
    const manifestId = (await s.t.db.restorePoint.findUniqueOrThrow({ where: { id: first } })).manifestId!;
    expect(await s.t.db.restorePoint.count({ where: { id: first } })).toBe(1);
    const decided = await s.run(approver, "approval:decide", (c) =>
      decideApproval(c, { id: req.approvalRequestId, comment: "ok", decision: "approve" }),
    );
    await s.waitJob(decided.jobId!, ["succeeded"]);
    expect(await s.t.db.restorePoint.count({ where: { id: first } })).toBe(0);
    const manifests = (await (await s.repository()).listRestorePoints()).map((m) => m.id);
    expect(manifests).not.toContain(manifestId);
  });
});
