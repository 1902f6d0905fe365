import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { recomputeVmTeams } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestApi } from "../src/testing";
import { registerSimEngine, type SimEngine } from "./jobs-fixtures";

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let sim: SimEngine;
let teamId: string;
let otherTeamId: string;
type Caller = Awaited<ReturnType<ReturnType<typeof createTestApi>["caller"]>>;
let operator: Caller;
let viewer: Caller;
let siteAdmin: Caller;

const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));

async function member(email: string, role: string, team: string): Promise<Caller> {
  const u = await api.createUser({ email });
  await t.db.membership.create({ data: { id: randomUUID(), teamId: team, userId: u.id, role } });
  return api.caller(await api.signIn(u.email, u.password));
}

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  sim = await registerSimEngine(t.db);
  teamId = randomUUID();
  otherTeamId = randomUUID();
  await t.db.team.createMany({
    data: [
      { id: teamId, name: "Web", slug: "web" },
      { id: otherTeamId, name: "Data", slug: "data" },
    ],
  });
  await t.db.teamVmRule.createMany({
    data: [
      { teamId, kind: "name-pattern", pattern: "web*" },
      { teamId: otherTeamId, kind: "name-pattern", pattern: "db*" },
    ],
  });
  operator = await member("operator@backups.test", "operator", teamId);
  viewer = await member("viewer@backups.test", "viewer", teamId);
  const admin = await api.createUser({ email: "site@backups.test", role: "admin" });
  siteAdmin = await api.caller(await api.signIn(admin.email, admin.password));
});
afterAll(async () => {
  await stopBosses();
  await sim?.stop();
  await t.drop();
});

async function catalogVm(name: string) {
  const vm = await t.db.vm.create({ data: { engineId: sim.engineId, vmId: randomUUID(), name } });
  await recomputeVmTeams(t.db, { engineId: sim.engineId });
  return vm;
}

describe("backups.start", () => {
  it("queues a backup of a team VM with its row facts, and refuses a second one while it is queued", async () => {
    const vm = await catalogVm("web-frontend");
    const { jobId } = await operator.backups.start({
      vmId: vm.id,
      description: "before the upgrade",
      tags: ["upgrade"],
    });
    const job = await t.db.job.findUniqueOrThrow({ where: { id: jobId } });
    expect(job).toMatchObject({
      type: "backup.vm",
      state: "queued",
      vmId: vm.id,
      engineId: sim.engineId,
      teamId,
      input: { mode: "auto", description: "before the upgrade", tags: ["upgrade"], keepSnapshot: false },
    });
    const audit = await t.db.auditEvent.findFirstOrThrow({
      where: { action: "backups.start", targetId: vm.id },
    });
    expect(audit).toMatchObject({ outcome: "success", teamId, targetType: "vm" });

    const second = await operator.backups.start({ vmId: vm.id }).catch((e: unknown) => e);
    expect(codeOf(second)).toBe("CONFLICT");
    expect((second as Error).message).toContain(jobId);
    expect(await t.db.job.count({ where: { vmId: vm.id } })).toBe(1);

    await operator.jobs.cancel({ id: jobId });
    const third = await operator.backups.start({ vmId: vm.id });
    expect(third.jobId).not.toBe(jobId);
  });

  it("takes the operator's mode (auto by default) and refuses a full backup that would keep a snapshot", async () => {
    const vm = await catalogVm("web-modes");
    const modeOf = async (jobId: string) =>
      ((await t.db.job.findUniqueOrThrow({ where: { id: jobId } })).input as { mode: string }).mode;
    const full = await operator.backups.start({ vmId: vm.id, mode: "full" });
    expect(await modeOf(full.jobId)).toBe("full");
    await operator.jobs.cancel({ id: full.jobId });
    const chain = await operator.backups.start({ vmId: vm.id, mode: "snapshot-chain", keepSnapshot: true });
    expect(await modeOf(chain.jobId)).toBe("snapshot-chain");
    await operator.jobs.cancel({ id: chain.jobId });
    const kept = await operator.backups
      .start({ vmId: vm.id, mode: "full", keepSnapshot: true })
      .catch((e: unknown) => e);
    expect(codeOf(kept)).toBe("BAD_REQUEST");
    expect((kept as Error).message).toMatch(/takes no snapshot to keep/);
    await expect(
      // @ts-expect-error: an incremental is auto's choice, not the operator's
      operator.backups.start({ vmId: vm.id, mode: "incremental" }),
    ).rejects.toSatisfy((e) => codeOf(e) === "BAD_REQUEST");
    expect(await t.db.job.count({ where: { vmId: vm.id, state: "queued" } })).toBe(0);
  });

  it("only for the VMs of the caller's teams, and only for roles that may back up", async () => {
    const theirs = await catalogVm("db-orders");
    await expect(operator.backups.start({ vmId: theirs.id })).rejects.toSatisfy(
      (e) => codeOf(e) === "NOT_FOUND",
    );
    const ours = await catalogVm("web-shop");
    await expect(viewer.backups.start({ vmId: ours.id })).rejects.toSatisfy((e) => codeOf(e) === "FORBIDDEN");
    expect(await t.db.job.count({ where: { vmId: { in: [theirs.id, ours.id] } } })).toBe(0);
  });

  it("takes engine + VM id; a site admin may name a VM the inventory does not list yet (read from the engine)", async () => {
    const simVm = sim.sim.state.vm("web01");
    if (!simVm) throw new Error("no web01");
    await expect(operator.backups.start({ engineId: sim.engineId, engineVmId: simVm.id })).rejects.toSatisfy(
      (e) => codeOf(e) === "NOT_FOUND",
    );
    const { jobId } = await siteAdmin.backups.start({ engineId: sim.engineId, engineVmId: simVm.id });
    const vm = await t.db.vm.findUniqueOrThrow({
      where: { engineId_vmId: { engineId: sim.engineId, vmId: simVm.id } },
      include: { teams: true },
    });
    expect(vm.name).toBe("web01");
    expect(vm.teams.map((x) => x.teamId)).toEqual([teamId]);
    expect((await t.db.job.findUniqueOrThrow({ where: { id: jobId } })).vmId).toBe(vm.id);
    // Now the team's operator finds it by engine + VM id too (and it is busy).
    await expect(operator.backups.start({ engineId: sim.engineId, engineVmId: simVm.id })).rejects.toSatisfy(
      (e) => codeOf(e) === "CONFLICT",
    );
    // An id the engine does not know is the engine's 404, in its words.
    const missing = await siteAdmin.backups
      .start({ engineId: sim.engineId, engineVmId: randomUUID() })
      .catch((e: unknown) => e);
    expect(codeOf(missing)).toBe("BAD_GATEWAY");
  });

  it("refuses a disabled engine and unclear input", async () => {
    const vm = await catalogVm("web-disabled");
    await t.db.engine.update({ where: { id: sim.engineId }, data: { enabled: false } });
    try {
      const e = await operator.backups.start({ vmId: vm.id }).catch((x: unknown) => x);
      expect(codeOf(e)).toBe("PRECONDITION_FAILED");
      expect((e as Error).message).toMatch(/disabled/);
    } finally {
      await t.db.engine.update({ where: { id: sim.engineId }, data: { enabled: true } });
    }
    await expect(
      operator.backups.start({ vmId: vm.id, engineId: sim.engineId, engineVmId: vm.vmId }),
    ).rejects.toSatisfy((e) => codeOf(e) === "BAD_REQUEST");
  });
});
