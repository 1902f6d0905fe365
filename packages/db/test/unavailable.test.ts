import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { databaseUnavailable, getDb } from "../src";
import { createTestDatabase, type TestDatabase } from "../src/testing";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
});
afterAll(() => t.drop());

const caught = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e,
  );

describe("databaseUnavailable", () => {
  it("names a database nobody answers at, for raw queries and model calls alike", async () => {
    const down = getDb("postgresql://postgres@127.0.0.1:1/postgres");
    for (const e of [await caught(down.$executeRaw`SELECT 1`), await caught(down.job.findFirst())])
      expect(databaseUnavailable(e)).toBe(
        "the catalog database at 127.0.0.1:1 could not be reached (DatabaseNotReachable)",
      );
  });

  it("names a connection the server terminated (a restart), also when wrapped in another error", async () => {
    const victim = caught(t.db.$queryRaw`SELECT pg_sleep(5)`); // Prisma's promises start when awaited
    const killer = getDb(`${t.url}${t.url.includes("?") ? "&" : "?"}application_name=killer`);
    for (let i = 0; i < 50; i++) {
      const [{ n }] = await killer.$queryRaw<[{ n: bigint }]>`
        SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
        WHERE query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid() AND datname = current_database()`;
      if (n > 0n) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const e = await victim;
    expect(databaseUnavailable(e)).toBe(
      "the catalog database dropped the connection (terminating connection due to administrator command)",
    );
    expect(databaseUnavailable(new Error("saving the job failed", { cause: e }))).toMatch(
      /dropped the connection/,
    );
  });

  it("leaves query errors alone: they are not the database's absence", async () => {
    expect(databaseUnavailable(await caught(t.db.$executeRawUnsafe("SELEC 1")))).toBeUndefined();
    const row = await t.db.engine.create({
      data: { name: "twice", apiUrl: "https://e/ovirt-engine/api", username: "u", secretSealed: "v1:x:y:z" },
    });
    const dup = await caught(
      t.db.engine.create({
        data: {
          id: row.id,
          name: "twice",
          apiUrl: "https://e/ovirt-engine/api",
          username: "u",
          secretSealed: "v1:x:y:z",
        },
      }),
    );
    expect(databaseUnavailable(dup)).toBeUndefined();
    expect(databaseUnavailable(new Error("boom"))).toBeUndefined();
    expect(databaseUnavailable(undefined)).toBeUndefined();
  });
});
