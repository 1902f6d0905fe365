import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sealSecret } from "@lifeboat/config";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { recordUsageAfterBackup, refreshInventory } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { EngineClient } from "@lifeboat/ovirt-core";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestApi, TEST_ENCRYPTION_KEY } from "../src/testing";
import { catalogRestorePoint, registerSimEngine, type SimEngine } from "./jobs-fixtures";

/**
 * The VM inventory against the simulated engine: refresh (names, OS, cluster, memory, disk count; VMs that left
 * the engine), team scoping of the list, protection status (recent restore point or policy), filters, keyset
 * pages, the active backup of each VM, and the overview's protected/unprotected counts.
 */

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let sim: SimEngine;
type Caller = Awaited<ReturnType<ReturnType<typeof createTestApi>["caller"]>>;
let admin: Caller;
let webViewer: Caller;
let teamId: string;

const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  sim = await registerSimEngine(t.db, { name: "sim-engine" });
  teamId = randomUUID();
  await t.db.team.create({ data: { id: teamId, name: "Web", slug: "web" } });
  await t.db.teamVmRule.create({ data: { teamId, kind: "name-pattern", pattern: "web*" } });
  const a = await api.createUser({ email: "admin@vms.test", role: "admin" });
  admin = await api.caller(await api.signIn(a.email, a.password));
  const v = await api.createUser({ email: "viewer@vms.test" });
  await t.db.membership.create({ data: { id: randomUUID(), teamId, userId: v.id, role: "viewer" } });
  webViewer = await api.caller(await api.signIn(v.email, v.password));
});

afterAll(async () => {
  await stopBosses();
  await sim?.stop();
  await t.drop();
});

describe("inventory refresh", () => {
  it("reads every VM of the engine with its OS, cluster, memory, status and disk count", async () => {
    const out = await admin.vms.refresh({});
    const simVms = sim.sim.state.vms();
    expect(out.engines).toEqual([
      {
        engineId: sim.engineId,
        engineName: "sim-engine",
        seen: simVms.length,
        added: simVms.length,
        gone: 0,
      },
    ]);
    const web01 = await t.db.vm.findFirstOrThrow({ where: { name: "web01" } });
    const simWeb = sim.sim.state.vm("web01");
    expect(web01).toMatchObject({
      engineId: sim.engineId,
      vmId: simWeb?.id,
      osType: "rhel_9x64",
      clusterName: "Default",
      status: simWeb?.status,
      diskCount: 1,
      memoryBytes: BigInt(2 * 1024 ** 3),
      goneAt: null,
    });
    expect((await t.db.vm.findFirstOrThrow({ where: { name: "db01" } })).diskCount).toBe(2);
    const engine = await t.db.engine.findUniqueOrThrow({ where: { id: sim.engineId } });
    expect(engine.inventoryAt).not.toBeNull();
    expect(engine.lastError).toBeNull();
    // Ownership follows at once: the team's name pattern gives it web01.
    expect((await webViewer.vms.list({})).items.map((v) => v.name)).toEqual(["web01"]);
  });

  it("keeps tags when the engine does not list them, and updates known VMs instead of adding them again", async () => {
    await t.db.vm.updateMany({ where: { name: "web01" }, data: { tags: ["prod"] } });
    const out = await refreshInventory(t.db, sim.engineId, { encryptionKey: TEST_ENCRYPTION_KEY });
    expect(out.added).toBe(0);
    expect(out.seen).toBe(sim.sim.state.vms().length);
    expect((await t.db.vm.findFirstOrThrow({ where: { name: "web01" } })).tags).toEqual(["prod"]);
    expect(await t.db.vm.count()).toBe(sim.sim.state.vms().length);
  });

  it("marks VMs the engine no longer lists as gone, and shows them only on request", async () => {
    const victim = sim.sim.state.vms().find((v) => v.name !== "web01" && v.name !== "db01");
    if (!victim) throw new Error("the sim has too few VMs");
    const engine = new EngineClient({
      url: sim.sim.engineUrl,
      username: sim.sim.adminUser,
      password: sim.sim.adminPassword,
      caPem: sim.sim.caPem,
    });
    try {
      await engine.vms.remove(victim.id);
    } finally {
      await engine.close();
    }
    const out = await refreshInventory(t.db, sim.engineId, { encryptionKey: TEST_ENCRYPTION_KEY });
    expect(out.gone).toBe(1);
    const row = await t.db.vm.findFirstOrThrow({ where: { vmId: victim.id } });
    expect(row.goneAt).not.toBeNull();
    expect((await admin.vms.list({})).items.map((v) => v.name)).not.toContain(victim.name);
    const withGone = await admin.vms.list({ includeGone: true });
    expect(withGone.items.find((v) => v.name === victim.name)?.goneAt).not.toBeNull();
  });

  it("skips an engine refreshed seconds ago, and records an engine that cannot be read", async () => {
    const again = await admin.vms.refresh({ engineId: sim.engineId });
    expect(again.engines).toEqual([{ engineId: sim.engineId, engineName: "sim-engine" }]);
    const key = TEST_ENCRYPTION_KEY;
    const dead = await t.db.engine.create({
      data: {
        name: "dead-engine",
        apiUrl: "https://127.0.0.1:1/ovirt-engine/api",
        username: "admin@internal",
        secretSealed: sealSecret(randomBytes(8).toString("hex"), key),
      },
    });
    await expect(
      refreshInventory(t.db, dead.id, { encryptionKey: TEST_ENCRYPTION_KEY, interactive: true }),
    ).rejects.toThrow(/cannot be reached/);
    const row = await t.db.engine.findUniqueOrThrow({ where: { id: dead.id } });
    expect(row.lastError).toMatch(/dead-engine cannot be reached/);
    expect(row.inventoryAt).toBeNull();
    await t.db.engine.update({ where: { id: dead.id }, data: { enabled: false } });
  });
});

describe("vms.list", () => {
  it("shows protection: a recent complete restore point, an old one, a policy", async () => {
    const web = await t.db.vm.findFirstOrThrow({ where: { name: "web01" } });
    const db = await t.db.vm.findFirstOrThrow({ where: { name: "db01" } });
    const unprotected = (await admin.vms.list({})).items.find((v) => v.name === "web01");
    expect(unprotected?.protection).toEqual({
      protected: false,
      recentBackup: false,
      policies: [],
      coveredByPolicy: false,
    });
    expect(unprotected?.lastRestorePoint).toBeNull();

    const old = await catalogRestorePoint(t.db, web);
    await t.db.restorePoint.update({
      where: { id: old.id },
      data: { createdAt: new Date(Date.now() - 10 * 86400_000) },
    });
    let row = (await admin.vms.list({ q: "web01" })).items[0];
    expect(row?.protection.protected).toBe(false);
    expect(row?.lastRestorePoint?.id).toBe(old.id);
    expect(row?.restorePointCount).toBe(1);

    const fresh = await catalogRestorePoint(t.db, web);
    await catalogRestorePoint(t.db, web, { state: "failed" });
    row = (await webViewer.vms.list({})).items[0];
    expect(row?.protection).toMatchObject({ protected: true, recentBackup: true });
    expect(row?.lastRestorePoint?.id).toBe(fresh.id);
    expect(row?.restorePointCount).toBe(2);

    await t.db.policy.create({
      data: {
        teamId,
        name: "nightly",
        schedule: "0 2 * * *",
        includeTeamVms: false,
        vms: { create: [{ vmId: db.id }] },
      },
    });
    const dbRow = (await admin.vms.list({ q: "db01" })).items[0];
    expect(dbRow?.protection).toEqual({
      protected: true,
      recentBackup: false,
      policies: ["nightly"],
      coveredByPolicy: true,
    });
    // A disabled policy protects nothing.
    await t.db.policy.updateMany({ where: { name: "nightly" }, data: { enabled: false } });
    expect((await admin.vms.list({ q: "db01" })).items[0]?.protection.protected).toBe(false);
  });

  it("filters by protection, name, engine and tag, and pages by name", async () => {
    const names = (r: { items: Array<{ name: string }> }) => r.items.map((v) => v.name);
    expect(names(await admin.vms.list({ protection: "protected" }))).toEqual(["web01"]);
    const unprot = names(await admin.vms.list({ protection: "unprotected" }));
    expect(unprot).toContain("db01");
    expect(unprot).not.toContain("web01");
    expect(names(await admin.vms.list({ q: "EB0" }))).toEqual(["web01"]);
    expect(names(await admin.vms.list({ tag: "prod" }))).toEqual(["web01"]);
    expect(names(await admin.vms.list({ engineId: randomUUID() }))).toEqual([]);
    const everyone = names(await admin.vms.list({}));
    expect(everyone).toEqual([...everyone].sort());
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await admin.vms.list({ limit: 1, cursor });
      paged.push(...names(page));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(paged).toEqual(everyone);
    expect(codeOf(await admin.vms.list({ cursor: "not-a-cursor" }).catch((e: unknown) => e))).toBe(
      "BAD_REQUEST",
    );
  });

  it("shows the backup queued or running for a VM", async () => {
    const web = await t.db.vm.findFirstOrThrow({ where: { name: "web01" } });
    const job = await t.db.job.create({
      data: { type: "backup.vm", state: "running", vmId: web.id, engineId: web.engineId, teamId },
    });
    expect((await webViewer.vms.get({ id: web.id })).activeBackup).toEqual({
      jobId: job.id,
      state: "running",
    });
    await t.db.job.update({ where: { id: job.id }, data: { state: "succeeded" } });
    expect((await webViewer.vms.get({ id: web.id })).activeBackup).toBeNull();
  });

  it("never shows another team's VM", async () => {
    const db = await t.db.vm.findFirstOrThrow({ where: { name: "db01" } });
    expect(codeOf(await webViewer.vms.get({ id: db.id }).catch((e: unknown) => e))).toBe("NOT_FOUND");
    expect((await webViewer.vms.list({ q: "db" })).items).toEqual([]);
    expect((await webViewer.vms.list({ teamId: randomUUID() })).items).toEqual([]);
  });

  it("counts protected and unprotected VMs for the overview, in the caller's scope", async () => {
    const mine = await webViewer.overview.summary();
    expect(mine.vms).toEqual({ protected: 1, unprotected: 0, neverBackedUp: 0 });
    const all = await admin.overview.summary();
    const present = await t.db.vm.count({ where: { goneAt: null } });
    expect(all.vms.protected + all.vms.unprotected).toBe(present);
    expect(all.vms.protected).toBe(1);
    expect(all.vms.neverBackedUp).toBe(present - 1);
    expect(mine.repositoryUsage).toEqual([]);
    expect(mine.engines).toBe(0);
    expect(all.engines).toBe(2);
  });
});

describe("repository usage", () => {
  it("grows the last sample by each backup, and measures the repository exactly on request", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "lifeboat-usage-"));
    const previous = api.config.repository;
    api.config.repository = { dir };
    try {
      const web = await t.db.vm.findFirstOrThrow({ where: { name: "web01" } });
      const first = await catalogRestorePoint(t.db, web);
      await t.db.restorePoint.update({
        where: { id: first.id },
        data: { newStoredBytes: 1000n, logicalBytes: 5000n },
      });
      await t.db.repositoryUsage.deleteMany();
      // No sample yet: the first one sums the catalog.
      await recordUsageAfterBackup(t.db, first.id);
      const base = await t.db.repositoryUsage.findFirstOrThrow({ orderBy: { id: "desc" } });
      const sums = await t.db.restorePoint.aggregate({
        where: { state: "complete" },
        _sum: { newStoredBytes: true, logicalBytes: true },
      });
      expect(base.storedBytes).toBe(sums._sum.newStoredBytes);
      const second = await catalogRestorePoint(t.db, web);
      await t.db.restorePoint.update({
        where: { id: second.id },
        data: { newStoredBytes: 300n, logicalBytes: 7000n },
      });
      await recordUsageAfterBackup(t.db, second.id);
      const next = await t.db.repositoryUsage.findFirstOrThrow({ orderBy: { id: "desc" } });
      expect(next.storedBytes).toBe(base.storedBytes + 300n);
      expect(next.logicalBytes).toBe(base.logicalBytes + 7000n);

      const status = await admin.settings.repository();
      expect(status.location).toBe(path.resolve(dir));
      expect(status.usage.length).toBe(2);
      expect(status.latest?.storedBytes).toBe(Number(next.storedBytes));
      // The overview keeps the last sample of each time slice (both fall in the same one here).
      expect((await admin.overview.summary()).repositoryUsage.map((u) => u.storedBytes)).toEqual([
        Number(next.storedBytes),
      ]);
      // Measured: the (empty) repository as it really is.
      const measured = await admin.settings.measureRepository();
      expect(measured).toMatchObject({ chunks: 0, storedBytes: 0, restorePoints: 0 });
      expect((await admin.settings.repository()).latest?.storedBytes).toBe(0);
    } finally {
      api.config.repository = previous;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
