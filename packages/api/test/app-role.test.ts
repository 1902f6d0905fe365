import { getDb } from "@lifeboat/db";
import {
  createTestAppRole,
  createTestDatabase,
  type TestAppRole,
  type TestDatabase,
} from "@lifeboat/db/testing";
import { stopBosses } from "@lifeboat/jobs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestApi } from "../src/testing";

/**
 * The whole API as production runs it: connected as the app's role (neither superuser nor owner, with the
 * grants the migrations give it), pg-boss included. It works, and it cannot touch the audit rows it writes.
 */
let t: TestDatabase;
let app: TestAppRole;
let appDb: ReturnType<typeof getDb>;

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  app = await createTestAppRole(t);
  appDb = getDb(app.url);
});
afterAll(async () => {
  await stopBosses();
  await appDb.$disconnect();
  await t.drop();
  await app.drop();
});

describe("the API as the app's role", () => {
  it("signs in, runs and audits mutations, queues jobs, and cannot rewrite the audit log", async () => {
    const api = createTestApi(appDb, app.url);
    const root = await api.createUser({ email: "root@role.test", role: "admin", name: "Root" });
    const site = await api.caller(await api.signIn(root.email, root.password));
    const team = await site.teams.create({ name: "Role team" });
    await site.system.ping({ message: "hello" });
    expect(await appDb.job.count({ where: { createdBy: root.id } })).toBe(1);
    // pg-boss made its schema as the app's role, which may alter it (a partition per queue).
    const [boss] = await appDb.$queryRaw<{ owner: string }[]>`
      select pg_get_userbyid(nspowner)::text as owner from pg_namespace where nspname = 'pgboss'`;
    expect(boss?.owner).toBe(app.role);
    const audited = await appDb.auditEvent.count({ where: { actorId: root.id } });
    expect(audited).toBeGreaterThanOrEqual(3); // sign-in, teams.create, system.ping
    expect(await appDb.auditEvent.count({ where: { targetId: team.id } })).toBe(1);

    for (const sql of [
      "delete from audit_event",
      "update audit_event set outcome = 'denied'",
      "set session_replication_role = replica",
      "alter table audit_event disable trigger all",
      "drop trigger audit_event_no_update_delete on audit_event",
    ])
      await expect(appDb.$executeRawUnsafe(sql), sql).rejects.toThrow(/permission denied|must be owner/);
    await expect(appDb.auditEvent.deleteMany({})).rejects.toThrow(/permission denied/);
    expect(await appDb.auditEvent.count({ where: { actorId: root.id } })).toBe(audited);
  });
});
