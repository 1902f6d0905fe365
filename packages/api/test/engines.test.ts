import { X509Certificate } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { openSecret } from "@lifeboat/config";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { recomputeVmTeams } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestApi, TEST_ENCRYPTION_KEY } from "../src/testing";
import { catalogRestorePoint, registerSimEngine, type SimEngine } from "./jobs-fixtures";

/**
 * Settings → Engines against the simulated engine over real TLS: add (password sealed, never returned), fetch
 * the CA from the engine's pki-resource URL with its fingerprint, test the connection (CA trusted, CA missing,
 * wrong password, TLS verification off), edit, disable; and the restore wizard's cluster / storage domain
 * pickers read live from the engine.
 */

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let sim: SimEngine;
type Caller = Awaited<ReturnType<ReturnType<typeof createTestApi>["caller"]>>;
let admin: Caller;
let operator: Caller;

const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  sim = await registerSimEngine(t.db, { name: "registered-sim" });
  const a = await api.createUser({ email: "admin@engines.test", role: "admin" });
  admin = await api.caller(await api.signIn(a.email, a.password));
  const team = await t.db.team.create({ data: { id: "team-ops", name: "Ops", slug: "ops" } });
  await t.db.teamVmRule.create({ data: { teamId: team.id, kind: "name-pattern", pattern: "web*" } });
  const o = await api.createUser({ email: "operator@engines.test" });
  await t.db.membership.create({ data: { id: "m-op", teamId: team.id, userId: o.id, role: "operator" } });
  operator = await api.caller(await api.signIn(o.email, o.password));
});

afterAll(async () => {
  await stopBosses();
  await sim?.stop();
  await t.drop();
});

describe("engines", () => {
  it("fetches the engine CA from its pki-resource URL and shows its fingerprint", async () => {
    const ca = await admin.engines.fetchCa({ apiUrl: sim.sim.engineUrl });
    const expected = new X509Certificate(sim.sim.caPem);
    expect(ca.info.fingerprint256).toBe(expected.fingerprint256);
    expect(ca.info.isCa).toBe(true);
    expect(ca.pem).toContain("-----BEGIN CERTIFICATE-----");
    expect(ca.url).toMatch(
      /\/ovirt-engine\/services\/pki-resource\?resource=ca-certificate&format=X509-PEM-CA$/,
    );
    await expect(admin.engines.fetchCa({ apiUrl: "https://127.0.0.1:1/ovirt-engine/api" })).rejects.toThrow(
      /could not be fetched/,
    );
  });

  it("tests a connection: works with the CA, explains a missing CA and a wrong password, works without verification", async () => {
    const base = { apiUrl: sim.sim.engineUrl, username: sim.sim.adminUser, password: sim.sim.adminPassword };
    const ok = await admin.engines.testConnection({ ...base, caPem: sim.sim.caPem });
    expect(ok).toMatchObject({
      ok: true,
      version: "4.5.5-1.el8",
      clusters: 1,
      storageDomains: 2,
      error: null,
    });
    const noCa = await admin.engines.testConnection({ ...base, caPem: null });
    expect(noCa.ok).toBe(false);
    expect(noCa.hint).toMatch(/not signed by a CA Lifeboat trusts/);
    const badPassword = await admin.engines.testConnection({
      ...base,
      caPem: sim.sim.caPem,
      password: "wrong",
    });
    expect(badPassword.ok).toBe(false);
    expect(badPassword.hint).toMatch(/refused the user name or password/);
    const insecure = await admin.engines.testConnection({ ...base, caPem: null, insecure: true });
    expect(insecure.ok).toBe(true);
    // A saved engine is tested with its saved password, and the outcome is recorded on it.
    const saved = await admin.engines.testConnection({ engineId: sim.engineId });
    expect(saved.ok).toBe(true);
    expect((await t.db.engine.findUniqueOrThrow({ where: { id: sim.engineId } })).lastCheckAt).not.toBeNull();
  });

  it("adds an engine with a sealed password that never comes back, edits and disables it", async () => {
    const created = await admin.engines.create({
      name: "second",
      apiUrl: new URL(sim.sim.engineUrl).origin,
      username: sim.sim.adminUser,
      password: sim.sim.adminPassword,
      caPem: sim.sim.caPem,
    });
    expect(created.apiUrl).toBe(`${new URL(sim.sim.engineUrl).origin}/ovirt-engine/api`);
    expect(created.ca?.fingerprint256).toBe(new X509Certificate(sim.sim.caPem).fingerprint256);
    expect(JSON.stringify(created)).not.toContain(sim.sim.adminPassword);
    expect(Object.keys(created)).not.toContain("password");
    const row = await t.db.engine.findUniqueOrThrow({ where: { id: created.id } });
    expect(row.secretSealed).not.toContain(sim.sim.adminPassword);
    const key = TEST_ENCRYPTION_KEY;
    expect(openSecret(row.secretSealed, key)).toBe(sim.sim.adminPassword);
    const listed = await admin.engines.list();
    expect(JSON.stringify(listed)).not.toContain(row.secretSealed);
    expect(JSON.stringify(listed)).not.toContain(sim.sim.adminPassword);

    expect(codeOf(await admin.engines.create({ ...created, password: "x" }).catch((e: unknown) => e))).toBe(
      "CONFLICT",
    );
    await expect(
      admin.engines.create({ name: "plain", apiUrl: "http://engine.test", username: "u", password: "p" }),
    ).rejects.toThrow(/must start with https/);
    await expect(
      admin.engines.create({
        name: "badca",
        apiUrl: "https://engine.test",
        username: "u",
        password: "p",
        caPem: "junk",
      }),
    ).rejects.toThrow(/not a PEM certificate/);

    // Renaming keeps the password; a new password replaces it.
    await admin.engines.update({ id: created.id, name: "second-renamed" });
    const renamed = await t.db.engine.findUniqueOrThrow({ where: { id: created.id } });
    expect(renamed.name).toBe("second-renamed");
    expect(renamed.secretSealed).toBe(row.secretSealed);
    await admin.engines.update({ id: created.id, password: "new-password" });
    expect(
      openSecret((await t.db.engine.findUniqueOrThrow({ where: { id: created.id } })).secretSealed, key),
    ).toBe("new-password");
    const disabled = await admin.engines.setEnabled({ id: created.id, enabled: false });
    expect(disabled.enabled).toBe(false);
    const refreshed = await admin.vms.refresh({});
    expect(refreshed.engines.map((e) => e.engineName)).toEqual(["registered-sim"]);
  });

  it("is for site administrators only", async () => {
    expect(codeOf(await operator.engines.list().catch((e: unknown) => e))).toBe("FORBIDDEN");
  });
});

/** A stand-in for a URL an administrator might point a saved engine at: it counts connections, keeps bodies. */
async function listener() {
  const bodies: string[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push(Buffer.concat(chunks).toString("utf8"));
      res.writeHead(404).end();
    });
  });
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/ovirt-engine/api`,
    bodies,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const lastAudit = async (action: string) =>
  t.db.auditEvent.findFirstOrThrow({ where: { action }, orderBy: { at: "desc" } });

describe("a saved engine's password goes only to its saved URL, CA and TLS setting", () => {
  it("testConnection with another URL, CA or TLS setting needs the password again; nothing reaches the other URL", async () => {
    const other = await listener();
    try {
      const moved = [
        { engineId: sim.engineId, apiUrl: other.url, insecure: true },
        { engineId: sim.engineId, apiUrl: other.url.replace("http:", "https:") },
        { engineId: sim.engineId, insecure: true },
        { engineId: sim.engineId, caPem: null },
      ];
      for (const input of moved) {
        const e = await admin.engines.testConnection(input).catch((err: unknown) => err);
        expect(codeOf(e)).toBe("BAD_REQUEST");
        expect((e as Error).message).toMatch(/enter the engine password again/);
        const refused = await lastAudit("engines.testConnection");
        expect(refused.outcome).toBe("failure");
        expect(refused.details).toMatchObject({ apiUrl: input.apiUrl ?? sim.sim.engineUrl });
      }
      expect(other.connections()).toBe(0);
      // The saved settings given again (as the edit form sends them) still use the saved password.
      const same = await admin.engines.testConnection({
        engineId: sim.engineId,
        apiUrl: new URL(sim.sim.engineUrl).origin,
        username: sim.sim.adminUser,
        insecure: false,
        caPem: sim.sim.caPem,
      });
      expect(same.ok).toBe(true);

      // With the password typed, the other URL is tried with that password, never the saved one.
      const typed = await admin.engines.testConnection({
        engineId: sim.engineId,
        apiUrl: other.url,
        insecure: true,
        password: "typed-again",
      });
      expect(typed.ok).toBe(false);
      expect(other.connections()).toBeGreaterThan(0);
      expect(other.bodies.join("\n")).not.toContain(sim.sim.adminPassword);
      const audit = await lastAudit("engines.testConnection");
      expect(audit.outcome).toBe("success");
      expect(audit.targetId).toBe(sim.engineId);
      expect(audit.details).toMatchObject({ apiUrl: other.url, ok: false });
    } finally {
      await other.close();
    }
  });

  it("update changing the URL, CA or TLS setting needs the password; the audit row has the URL", async () => {
    const created = await admin.engines.create({
      name: "moving",
      apiUrl: sim.sim.engineUrl,
      username: sim.sim.adminUser,
      password: sim.sim.adminPassword,
      caPem: sim.sim.caPem,
    });
    const before = await t.db.engine.findUniqueOrThrow({ where: { id: created.id } });
    const other = "https://attacker.invalid/ovirt-engine/api";
    for (const patch of [{ apiUrl: other }, { insecure: true }, { caPem: null }]) {
      const e = await admin.engines.update({ id: created.id, ...patch }).catch((err: unknown) => err);
      expect(codeOf(e)).toBe("BAD_REQUEST");
      expect((e as Error).message).toMatch(/enter the engine password again/);
    }
    expect(await t.db.engine.findUniqueOrThrow({ where: { id: created.id } })).toEqual(before);
    const refused = await lastAudit("engines.update");
    expect(refused.outcome).toBe("failure");
    expect(refused.details).toMatchObject({ apiUrl: sim.sim.engineUrl });

    // The saved settings sent again are no change; with the password, the URL moves.
    await admin.engines.update({ id: created.id, apiUrl: sim.sim.engineUrl, insecure: false });
    const moved = await admin.engines.update({ id: created.id, apiUrl: other, password: "new-password" });
    expect(moved.apiUrl).toBe(other);
    const audit = await lastAudit("engines.update");
    expect(audit.outcome).toBe("success");
    expect(audit.details).toMatchObject({ apiUrl: other });
  });
});

describe("engines.restoreTargets", () => {
  it("lists the engine's clusters and data storage domains live, the original ones first", async () => {
    const simWeb = sim.sim.state.vm("web01");
    if (!simWeb) throw new Error("no web01");
    const vm = await t.db.vm.create({ data: { engineId: sim.engineId, vmId: simWeb.id, name: "web01" } });
    await recomputeVmTeams(t.db);
    const rp = await catalogRestorePoint(t.db, vm);
    const data2 = sim.sim.state.storageDomains().find((s) => s.name === "data2");
    await t.db.restorePointDisk.updateMany({
      where: { restorePointId: rp.id },
      data: { storageDomainId: data2?.id, storageDomainName: "data2" },
    });
    await t.db.restorePoint.update({ where: { id: rp.id }, data: { clusterName: "Default" } });
    const targets = await operator.engines.restoreTargets({ restorePointId: rp.id });
    expect(targets.engineName).toBe("registered-sim");
    expect(targets.clusters).toEqual([
      expect.objectContaining({ name: "Default", original: true, id: expect.any(String) }),
    ]);
    expect(targets.storageDomains.map((s) => [s.name, s.original])).toEqual([
      ["data2", true],
      ["data1", false],
    ]);
    expect(targets.storageDomains[0]?.availableBytes).toBeGreaterThan(0);
  });
});
