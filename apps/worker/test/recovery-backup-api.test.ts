import type { ChildProcess } from "node:child_process";
import { startBackup } from "@lifeboat/domain";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsOf, type Stack, simLeftovers, startStack } from "./support/stack";
import { exited, workerProcess } from "./support/worker-process";

/**
 * A worker killed in the middle of a backup through the engine's backup API (issue 12, field failures row 3):
 * the engine backup is running and one of its image transfers open. The next attempt, on another worker, first
 * cancels the transfer and finalizes the engine's backup from the job's journal, then backs up again.
 */
/** The snapshot a hybrid backup reads from (the engine's description, ref §4.7). */
const HYBRID_BACKUP_SNAPSHOT_DESCRIPTION = "Auto-generated for Backup VM";

let s: Stack;
const children: ChildProcess[] = [];

beforeAll(async () => {
  s = await startStack({ sim: { clusterLevel: "4.7" } });
});
afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await Promise.all(children.map(exited));
  await s?.stop();
});

describe("a worker killed in the middle of a backup through the backup API", () => {
  it("the next attempt cancels the open transfer and finalizes the engine's backup first, then backs up", async () => {
    const first = await workerProcess(s, children);
    const vm = s.sim.state.vm("web01");
    if (!vm) throw new Error("no VM web01");
    // Slow data requests, so that the kill lands while the backup's transfer is open.
    s.sim.faults.addLatency({ ms: 1500, target: "imageio", op: "images.get" });
    const row = await s.vmRow("web01");
    const { jobId } = await s.run(s.operator, "backup:create", (c) =>
      startBackup(c, c.actor, { vmId: row.id }),
    );
    let backupId: string | undefined;
    let transferId: string | undefined;
    await s.waitFor(
      jobId,
      async () => {
        const events = await eventsOf(s, jobId);
        const b = events.find((e) => e.message.startsWith("created backup "));
        const t = events.find((e) => e.message.startsWith("created image transfer "));
        backupId = (b?.details as { id?: string } | null)?.id;
        transferId = (t?.details as { id?: string } | null)?.id;
        return Boolean(backupId && transferId && events.some((e) => /reading its \d+ bytes/.test(e.message)));
      },
      90_000,
    );
    first.kill("SIGKILL");
    await exited(first);
    s.sim.faults.clear();
    expect(await s.t.db.job.findUniqueOrThrow({ where: { id: jobId } })).toMatchObject({
      state: "running",
      attempts: 1,
    });
    // What the dead worker left: a ready backup holding the VM, its open transfer, the hybrid snapshot.
    expect(s.sim.state.backups(vm.id).find((b) => b.id === backupId)?.phase).toBe("ready");
    expect(s.sim.state.transfers().find((t) => t.id === transferId)?.phase).toBe("transferring");
    expect(s.sim.state.snapshots().some((x) => x.description === HYBRID_BACKUP_SNAPSHOT_DESCRIPTION)).toBe(
      true,
    );

    await workerProcess(s, children);
    const job = await s.waitJob(jobId, ["succeeded"], 120_000);
    expect(job.attempts).toBe(2);
    const events = await eventsOf(s, jobId);
    const cleaning = events.find(
      (e) => e.step === "recover" && e.message.startsWith("cleaning up what attempt 1 left"),
    );
    expect(cleaning?.message).toContain(`image transfer ${transferId}`);
    expect(cleaning?.message).toContain(`backup ${backupId}`);
    // Transfer first (the engine refuses to finalize a backup with an open transfer), then the backup.
    const removed = events
      .filter((e) => e.step === "engine-object" && e.message.startsWith("removed"))
      .map((e) => (e.details as { kind: string; id: string }).id);
    expect(removed.indexOf(transferId as string)).toBeGreaterThanOrEqual(0);
    expect(removed.indexOf(transferId as string)).toBeLessThan(removed.indexOf(backupId as string));
    const recovered = events.indexOf(cleaning as (typeof events)[number]);
    const started = events.findIndex((e, i) => i > recovered && e.message.startsWith("created backup "));
    expect(started).toBeGreaterThan(recovered);
    expect(s.sim.state.backups(vm.id).find((b) => b.id === backupId)?.phase).toBe("succeeded");
    expect(s.sim.state.transfers().find((t) => t.id === transferId)?.phase).toMatch(/^finished/);

    // The second attempt's backup went through: recorded with its checkpoint, the engine clean.
    expect(job.result).toMatchObject({ mode: "full" });
    const rp = await s.t.db.restorePoint.findUniqueOrThrow({ where: { id: job.restorePointId ?? "" } });
    expect(rp).toMatchObject({ state: "complete", backupMode: "full" });
    expect(s.sim.state.checkpoints(vm.id).map((c) => c.id)).toContain(rp.toCheckpointId);
    expect(simLeftovers(s.sim)).toEqual([]);
    expect(s.sim.state.backups(vm.id).filter((b) => !["succeeded", "failed"].includes(b.phase))).toEqual([]);
    expect(s.sim.state.snapshots().some((x) => x.description === HYBRID_BACKUP_SNAPSHOT_DESCRIPTION)).toBe(
      false,
    );
    expect(await s.t.db.restorePoint.count()).toBe(1);
    const repo = await s.repository();
    expect((await repo.listRestorePoints()).map((p) => p.id)).toEqual([rp.id]);
  }, 240_000);
});
