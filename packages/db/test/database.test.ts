import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../src/testing";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
});
afterAll(() => t.drop());

describe("migrated catalog", () => {
  it("stores and reads an engine", async () => {
    const e = await t.db.engine.create({
      data: {
        name: "lab",
        apiUrl: "https://engine.lab/ovirt-engine/api",
        username: "admin@internal",
        secretSealed: "v1:x:y:z",
      },
    });
    expect((await t.db.engine.findUniqueOrThrow({ where: { id: e.id } })).insecure).toBe(false);
  });

  it("refuses UPDATE and DELETE on the audit log at the database", async () => {
    const row = await t.db.auditEvent.create({ data: { action: "test.write", outcome: "success" } });
    await expect(
      t.db.auditEvent.update({ where: { id: row.id }, data: { action: "forged" } }),
    ).rejects.toThrow(/append-only/);
    await expect(t.db.auditEvent.delete({ where: { id: row.id } })).rejects.toThrow(/append-only/);
    await expect(t.db.$executeRawUnsafe('truncate "audit_event"')).rejects.toThrow(/append-only/);
    expect((await t.db.auditEvent.findUniqueOrThrow({ where: { id: row.id } })).action).toBe("test.write");
  });

  it("enforces one membership per user and team", async () => {
    await t.db.user.create({ data: { id: "u1", name: "Ann", email: "ann@example.com" } });
    await t.db.team.create({ data: { id: "t1", name: "Ops", slug: "ops" } });
    await t.db.membership.create({ data: { id: "m1", teamId: "t1", userId: "u1", role: "operator" } });
    await expect(
      t.db.membership.create({ data: { id: "m2", teamId: "t1", userId: "u1", role: "viewer" } }),
    ).rejects.toThrow();
  });
});
