import { firstAdminAccount } from "@lifeboat/auth";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { type CreateAccount, ensureFirstAdmin } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestApi } from "../src/testing";

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
});
afterAll(async () => {
  await stopBosses();
  await t.drop();
});

const createAccount: CreateAccount = (account) => firstAdminAccount(api.auth)(account);
const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));

describe("sign-in and sessions", () => {
  it("creates the first admin once, with a generated password that signs in", async () => {
    const first = await ensureFirstAdmin(t.db, createAccount, { email: "root@lifeboat.test" });
    expect(first.created).toBe(true);
    expect(first.generatedPassword?.length).toBeGreaterThanOrEqual(16);
    const again = await ensureFirstAdmin(t.db, createAccount, { email: "other@lifeboat.test" });
    expect(again).toEqual({ created: false, email: "root@lifeboat.test" });
    const headers = await api.signIn("root@lifeboat.test", first.generatedPassword!);
    const root = await api.caller(headers);
    const me = await root.me.get();
    expect(me).toMatchObject({
      email: "root@lifeboat.test",
      siteAdmin: true,
      teams: [],
      mustChangePassword: true,
    });
    // The generated password was printed to a console: nothing but choosing a new one until then.
    const refused = await root.users.list({}).catch((e) => e);
    expect(codeOf(refused)).toBe("FORBIDDEN");
    expect((refused as Error).message).toMatch(/new password/);
  });

  it("lets the first admin keep a password the operator chose", async () => {
    const fresh = await createTestDatabase(inject("testDatabase"));
    try {
      const own = createTestApi(fresh.db, fresh.url);
      const create = firstAdminAccount(own.auth);
      const weak = ensureFirstAdmin(fresh.db, create, {
        email: "chosen@lifeboat.test",
        password: "sunshine1234",
      });
      await expect(weak).rejects.toThrow(
        /^LIFEBOAT_ADMIN_PASSWORD is too weak: This password is close to one of the most common ones/,
      );
      expect(await fresh.db.user.count()).toBe(0);
      const first = await ensureFirstAdmin(fresh.db, create, {
        email: "Chosen@Lifeboat.Test",
        password: "operator-chose-this-one",
      });
      expect(first).toEqual({ created: true, email: "Chosen@Lifeboat.Test", generatedPassword: undefined });
      const me = await (
        await own.caller(await own.signIn("chosen@lifeboat.test", "operator-chose-this-one"))
      ).me.get();
      expect(me).toMatchObject({ siteAdmin: true, mustChangePassword: false });
    } finally {
      await fresh.drop();
    }
  });

  it("stores an argon2id hash, never the password", async () => {
    const u = await api.createUser({ email: "hash@lifeboat.test", password: "a-long-password-1" });
    const account = await t.db.account.findFirstOrThrow({ where: { userId: u.id } });
    expect(account.password).toMatch(/^\$argon2id\$/);
    expect(account.password).not.toContain("a-long-password-1");
  });

  it("refuses a wrong password", async () => {
    await api.createUser({ email: "wrong@lifeboat.test" });
    await expect(api.signIn("wrong@lifeboat.test", "not-the-password")).rejects.toThrow(/401/);
  });

  it("answers UNAUTHORIZED without a session and lets health through", async () => {
    const anonymous = await api.caller();
    await t.db.workerHeartbeat.create({ data: { id: "api-test-worker", host: "h", pid: 1 } });
    expect(await anonymous.system.health()).toEqual({
      ok: true,
      database: true,
      worker: true,
      problem: null,
    });
    expect(codeOf(await anonymous.me.get().catch((e) => e))).toBe("UNAUTHORIZED");
  });
});

describe("permissions and audit", () => {
  it("denies a site-admin procedure to a plain user and audits the denial", async () => {
    const u = await api.createUser({ email: "plain@lifeboat.test" });
    const caller = await api.caller(await api.signIn(u.email, u.password));
    const err = await caller.system.ping({ message: "hi" }).catch((e) => e);
    expect(codeOf(err)).toBe("FORBIDDEN");
    const row = await t.db.auditEvent.findFirstOrThrow({ where: { actorId: u.id, action: "system.ping" } });
    expect(row).toMatchObject({ outcome: "denied", ip: "203.0.113.7", userAgent: "vitest" });
    expect(await t.db.job.count()).toBe(0);
  });

  it("lets a site admin queue a diagnostics job and audits it with its target", async () => {
    const a = await api.createUser({ email: "admin2@lifeboat.test", role: "admin" });
    const caller = await api.caller(await api.signIn(a.email, a.password));
    const { jobId } = await caller.system.ping({ message: "hello" });
    const job = await t.db.job.findUniqueOrThrow({ where: { id: jobId } });
    expect(job).toMatchObject({ type: "system.echo", state: "queued", createdBy: a.id });
    const row = await t.db.auditEvent.findFirstOrThrow({ where: { actorId: a.id, action: "system.ping" } });
    expect(row).toMatchObject({ outcome: "success", targetType: "job", targetId: jobId });
  });

  it("validates input before running a mutation", async () => {
    const a = await api.createUser({ email: "admin3@lifeboat.test", role: "admin" });
    const caller = await api.caller(await api.signIn(a.email, a.password));
    expect(codeOf(await caller.system.ping({ message: "" }).catch((e) => e))).toBe("BAD_REQUEST");
  });

  it("keeps other teams' jobs invisible", async () => {
    const u = await api.createUser({ email: "viewer@lifeboat.test" });
    await t.db.team.createMany({
      data: [
        { id: "team-a", name: "A", slug: "a" },
        { id: "team-b", name: "B", slug: "b" },
      ],
    });
    await t.db.membership.create({ data: { id: "ma", teamId: "team-a", userId: u.id, role: "viewer" } });
    const other = await t.db.job.create({ data: { type: "system.echo", teamId: "team-b" } });
    const own = await t.db.job.create({ data: { type: "system.echo", teamId: "team-a" } });
    const caller = await api.caller(await api.signIn(u.email, u.password));
    expect((await caller.jobs.get({ id: own.id })).id).toBe(own.id);
    expect(codeOf(await caller.jobs.get({ id: other.id }).catch((e) => e))).toBe("NOT_FOUND");
  });
});
