import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { recomputeVmTeams } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestApi } from "../src/testing";
import { catalogRestorePoint, registerSimEngine, type SimEngine } from "./jobs-fixtures";

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let sim: SimEngine;
let teamId: string;
type Caller = Awaited<ReturnType<ReturnType<typeof createTestApi>["caller"]>>;
let operator: Caller;
let approver: Caller;
let viewer: Caller;
/** The catalog VM of the sim's web01 (the original exists on the engine). */
let web: { id: string; engineId: string; name: string; vmId: string };
let dbVmId: string;

const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));

async function member(email: string, role: string): Promise<Caller> {
  const u = await api.createUser({ email, name: email.split("@")[0] });
  await t.db.membership.create({ data: { id: randomUUID(), teamId, userId: u.id, role } });
  return api.caller(await api.signIn(u.email, u.password));
}

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  sim = await registerSimEngine(t.db);
  teamId = randomUUID();
  await t.db.team.create({ data: { id: teamId, name: "Web", slug: "web" } });
  await t.db.teamVmRule.create({ data: { teamId, kind: "name-pattern", pattern: "web*" } });
  const simWeb = sim.sim.state.vm("web01");
  dbVmId = sim.sim.state.vm("db01")?.id ?? "";
  if (!simWeb || !dbVmId) throw new Error("the sim has no web01/db01");
  web = await t.db.vm.create({ data: { engineId: sim.engineId, vmId: simWeb.id, name: "web01" } });
  await recomputeVmTeams(t.db);
  operator = await member("operator@restores.test", "operator");
  approver = await member("approver@restores.test", "approver");
  viewer = await member("viewer@restores.test", "viewer");
});
afterAll(async () => {
  await stopBosses();
  await sim?.stop();
  await t.drop();
});

describe("restores.checkName", () => {
  it("says whether the name is free, whether the original still exists, and whether an approval is needed", async () => {
    const rp = await catalogRestorePoint(t.db, web);
    expect(await operator.restores.checkName({ restorePointId: rp.id, name: "web01-copy" })).toEqual({
      name: "web01-copy",
      available: true,
      existingVm: null,
      originalExists: true,
      approvalRequired: false,
      why: [],
      replaces: null,
    });
    const taken = await operator.restores.checkName({ restorePointId: rp.id, name: "db01" });
    expect(taken).toMatchObject({
      available: false,
      existingVm: { id: dbVmId, name: "db01", isOriginal: false },
      approvalRequired: true,
      replaces: { id: dbVmId, name: "db01" },
    });
    expect(taken.why.join()).toMatch(/"db01" exists/);
    const original = await operator.restores.checkName({ restorePointId: rp.id, name: "web01" });
    expect(original.existingVm).toMatchObject({ id: web.vmId, isOriginal: true });
    const identity = await operator.restores.checkName({
      restorePointId: rp.id,
      name: "web01-new-name",
      identity: "original",
    });
    expect(identity).toMatchObject({ available: true, approvalRequired: true, replaces: { id: web.vmId } });
  });
});

describe("restores.start", () => {
  it("queues a restore to a free name at once", async () => {
    const rp = await catalogRestorePoint(t.db, web);
    const started = await operator.restores.start({
      restorePointId: rp.id,
      name: "web01-restored",
      storageDomain: { name: "data2" },
    });
    if (started.status !== "queued") throw new Error("expected a queued restore");
    const job = await t.db.job.findUniqueOrThrow({ where: { id: started.jobId } });
    expect(job).toMatchObject({
      type: "restore.vm",
      restorePointId: rp.id,
      vmId: web.id,
      engineId: sim.engineId,
      teamId,
      input: { name: "web01-restored", identity: "auto", storageDomain: { name: "data2" } },
    });
    expect((job.input as { replaceVm?: unknown }).replaceVm).toBeUndefined();
  });

  it("over an existing VM: refused without replaceExisting, else it waits for another approver, who queues it", async () => {
    const rp = await catalogRestorePoint(t.db, web);
    const refused = await operator.restores
      .start({ restorePointId: rp.id, name: "db01" })
      .catch((e: unknown) => e);
    expect(codeOf(refused)).toBe("CONFLICT");
    expect((refused as Error).message).toMatch(/"db01" exists/);
    // An approval needs a reason.
    await expect(
      operator.restores.start({ restorePointId: rp.id, name: "db01", replaceExisting: true }),
    ).rejects.toSatisfy((e) => codeOf(e) === "BAD_REQUEST");
    const jobsBefore = await t.db.job.count({ where: { type: "restore.vm" } });
    const asked = await operator.restores.start({
      restorePointId: rp.id,
      name: "db01",
      replaceExisting: true,
      reason: "db01 must become a copy of web01 (ticket 99)",
    });
    if (asked.status !== "pending-approval") throw new Error("a replacing restore must wait for approval");
    expect(await t.db.job.count({ where: { type: "restore.vm" } })).toBe(jobsBefore);
    const request = await t.db.approvalRequest.findUniqueOrThrow({ where: { id: asked.approvalRequestId } });
    expect(request).toMatchObject({
      kind: "restore.vm",
      teamId,
      targetType: "restore_point",
      targetId: rp.id,
    });
    expect(request.summary).toMatch(/REPLACING the existing VM "db01"/);
    expect(request.payload).toMatchObject({
      restorePointId: rp.id,
      job: { name: "db01", replaceVm: { id: dbVmId } },
    });
    // The requester cannot approve their own request.
    await expect(operator.approvals.approve({ id: request.id, comment: "me" })).rejects.toSatisfy(
      (e) => codeOf(e) === "FORBIDDEN" || codeOf(e) === "NOT_FOUND",
    );
    const decided = await approver.approvals.approve({ id: request.id, comment: "agreed" });
    expect(decided.state).toBe("approved");
    const job = await t.db.job.findUniqueOrThrow({ where: { id: decided.jobId ?? "" } });
    expect(job).toMatchObject({ type: "restore.vm", restorePointId: rp.id, teamId });
    expect(job.input).toMatchObject({
      name: "db01",
      replaceVm: { id: dbVmId, name: "db01" },
      approvalRequestId: request.id,
    });
    expect(job.createdBy).not.toBeNull();
  });

  it("restoring the original identity while the original exists also waits for approval", async () => {
    const rp = await catalogRestorePoint(t.db, web);
    const asked = await operator.restores.start({
      restorePointId: rp.id,
      name: "web01-again",
      identity: "original",
      replaceExisting: true,
      reason: "roll web01 back",
    });
    expect(asked.status).toBe("pending-approval");
    const request = await t.db.approvalRequest.findFirstOrThrow({ where: { targetId: rp.id } });
    expect(request.payload).toMatchObject({ job: { identity: "original", replaceVm: { id: web.vmId } } });
  });

  it("with the team's requireApprovalForRestores, every restore (VM or disk) waits for approval", async () => {
    await t.db.team.update({ where: { id: teamId }, data: { requireApprovalForRestores: true } });
    try {
      const rp = await catalogRestorePoint(t.db, web);
      const vm = await operator.restores.start({
        restorePointId: rp.id,
        name: "web01-free-name",
        reason: "test",
      });
      expect(vm).toMatchObject({
        status: "pending-approval",
        why: ["the team asks for an approval of every restore"],
      });
      const disk = await operator.restores.startDisk({
        restorePointId: rp.id,
        diskId: rp.diskId,
        alias: "d",
        reason: "test",
      });
      expect(disk.status).toBe("pending-approval");
      if (disk.status !== "pending-approval") return;
      const decided = await approver.approvals.approve({ id: disk.approvalRequestId, comment: "fine" });
      const job = await t.db.job.findUniqueOrThrow({ where: { id: decided.jobId ?? "" } });
      expect(job).toMatchObject({
        type: "restore.disk",
        restorePointId: rp.id,
        input: { diskId: rp.diskId, alias: "d" },
      });
    } finally {
      await t.db.team.update({ where: { id: teamId }, data: { requireApprovalForRestores: false } });
    }
  });

  it("refuses a restore point that failed verification, also when it failed after the approval was asked", async () => {
    const bad = await catalogRestorePoint(t.db, web, {
      verifyState: "failed",
      verifyError: "chunk abc is corrupt",
    });
    const refused = await operator.restores
      .start({ restorePointId: bad.id, name: "x1" })
      .catch((e: unknown) => e);
    expect(codeOf(refused)).toBe("PRECONDITION_FAILED");
    expect((refused as Error).message).toMatch(/failed verification.*chunk abc is corrupt/);
    await expect(operator.restores.checkName({ restorePointId: bad.id, name: "x1" })).rejects.toSatisfy(
      (e) => codeOf(e) === "PRECONDITION_FAILED",
    );

    const rp = await catalogRestorePoint(t.db, web);
    const asked = await operator.restores.start({
      restorePointId: rp.id,
      name: "db01",
      replaceExisting: true,
      reason: "r",
    });
    if (asked.status !== "pending-approval") throw new Error("expected a request");
    await t.db.restorePoint.update({
      where: { id: rp.id },
      data: { verifyState: "failed", verifyError: "damaged" },
    });
    const decided = await approver.approvals.approve({ id: asked.approvalRequestId, comment: "ok" });
    expect(decided).toMatchObject({ state: "failed", jobId: null });
    expect(decided.executionError).toMatch(/failed verification/);
  });

  it("only for roles that may request restores, and only for the team's restore points", async () => {
    const rp = await catalogRestorePoint(t.db, web);
    await expect(viewer.restores.start({ restorePointId: rp.id, name: "v" })).rejects.toSatisfy(
      (e) => codeOf(e) === "FORBIDDEN",
    );
    const other = await t.db.vm.create({
      data: { engineId: sim.engineId, vmId: randomUUID(), name: "db-other" },
    });
    const theirs = await catalogRestorePoint(t.db, other);
    await expect(operator.restores.start({ restorePointId: theirs.id, name: "v" })).rejects.toSatisfy(
      (e) => codeOf(e) === "NOT_FOUND",
    );
  });
});

describe("restores to another engine", () => {
  it("go to the chosen engine when it is registered and enabled, and are refused otherwise", async () => {
    const siteB = await registerSimEngine(t.db, { seed: false, name: "Site B" });
    try {
      const rp = await catalogRestorePoint(t.db, web);
      // web01 exists on its own engine, not on Site B: there, the original identity replaces nothing.
      const check = await operator.restores.checkName({
        restorePointId: rp.id,
        engineId: siteB.engineId,
        name: "web01",
        identity: "original",
      });
      expect(check).toMatchObject({ available: true, originalExists: false, approvalRequired: false });
      const started = await operator.restores.start({
        restorePointId: rp.id,
        engineId: siteB.engineId,
        name: "web01",
        identity: "original",
      });
      if (started.status !== "queued") throw new Error("expected a queued restore");
      const job = await t.db.job.findUniqueOrThrow({ where: { id: started.jobId } });
      expect(job).toMatchObject({ engineId: siteB.engineId, input: { engineId: siteB.engineId } });
      const disk = await operator.restores.startDisk({
        restorePointId: rp.id,
        engineId: siteB.engineId,
        diskId: rp.diskId,
        alias: "web01-disk",
      });
      if (disk.status !== "queued") throw new Error("expected a queued disk restore");
      expect((await t.db.job.findUniqueOrThrow({ where: { id: disk.jobId } })).engineId).toBe(siteB.engineId);

      await t.db.engine.update({ where: { id: siteB.engineId }, data: { enabled: false } });
      await expect(
        operator.restores.start({ restorePointId: rp.id, engineId: siteB.engineId, name: "web01-b" }),
      ).rejects.toThrow(/Site B is disabled/);
      await expect(
        operator.restores.start({ restorePointId: rp.id, engineId: randomUUID(), name: "web01-b" }),
      ).rejects.toSatisfy((e) => codeOf(e) === "NOT_FOUND");
      const targets = await operator.engines.restoreTargets({ restorePointId: rp.id });
      expect(targets.engines.map((e) => e.id)).not.toContain(siteB.engineId);
    } finally {
      await t.db.job.deleteMany({ where: { engineId: siteB.engineId } });
      await t.db.engine.delete({ where: { id: siteB.engineId } });
      await siteB.stop();
    }
  });
});

describe("restorePoints.get", () => {
  it("gives the disks with their layer chains and the OVF facts", async () => {
    const rp = await catalogRestorePoint(t.db, web);
    await t.db.restorePoint.update({
      where: { id: rp.id },
      data: { osType: "rhel_9x64", nicCount: 2, memoryMiB: 2048, cpuCount: 4, clusterName: "Default" },
    });
    const disk = await t.db.restorePointDisk.findFirstOrThrow({ where: { restorePointId: rp.id } });
    const base = await t.db.layer.findFirstOrThrow({ where: { restorePointDiskId: disk.id } });
    await t.db.layer.create({
      data: {
        restorePointDiskId: disk.id,
        position: 1,
        imageId: randomUUID(),
        parentImageId: base.imageId,
        format: "cow",
        virtualSize: base.virtualSize,
        size: 4096n,
        sha256: "1".repeat(64),
        manifestId: randomUUID(),
        reused: true,
      },
    });
    const view = await viewer.restorePoints.get({ id: rp.id });
    expect(view).toMatchObject({
      id: rp.id,
      vmName: "web01",
      engineId: sim.engineId,
      facts: { osType: "rhel_9x64", nicCount: 2, memoryMiB: 2048, cpuCount: 4, clusterName: "Default" },
    });
    expect(view.disks).toHaveLength(1);
    expect(view.disks[0]?.layers.map((l) => [l.position, l.parentImageId, l.reused])).toEqual([
      [0, null, false],
      [1, base.imageId, true],
    ]);
    expect(view).toMatchObject({
      backupMode: "snapshot-chain",
      toCheckpointId: null,
      fromCheckpointId: null,
    });
    expect(view.disks[0]).toMatchObject({
      backupMode: "snapshot-chain",
      transferredBytes: null,
      changedBytes: null,
    });
  });

  it("gives a backup-API point's mode, checkpoints and bytes transferred and changed per disk", async () => {
    const rp = await catalogRestorePoint(t.db, web);
    await t.db.restorePoint.update({
      where: { id: rp.id },
      data: {
        kind: "incremental",
        backupMode: "incremental",
        fromCheckpointId: "ckpt-1",
        toCheckpointId: "ckpt-2",
        transferredBytes: 65536n,
        disks: {
          updateMany: {
            where: {},
            data: { backupMode: "incremental", transferredBytes: 65536n, changedBytes: 131072n },
          },
        },
      },
    });
    const view = await viewer.restorePoints.get({ id: rp.id });
    expect(view).toMatchObject({
      backupMode: "incremental",
      fromCheckpointId: "ckpt-1",
      toCheckpointId: "ckpt-2",
      transferredBytes: 65536,
    });
    expect(view.disks[0]).toMatchObject({
      backupMode: "incremental",
      transferredBytes: 65536,
      changedBytes: 131072,
    });
  });
});
