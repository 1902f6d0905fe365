import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { malformedInput, recordAudit } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestApi } from "../src/testing";

/**
 * Text PostgreSQL cannot store and dates it cannot read, through the guard of every procedure: each is a 400
 * naming the field, never a 500, and a refused mutation is still audited.
 */
let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let site: Awaited<ReturnType<typeof api.caller>>;

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  const root = await api.createUser({ email: "root@hostile.test", role: "admin", name: "Root" });
  site = await api.caller(await api.signIn(root.email, root.password));
});
afterAll(async () => {
  await stopBosses();
  await t.drop();
});

const HOSTILE_TEXT = {
  NUL: ["a\u0000b", /NUL character \(U\+0000\)/],
  "lone high surrogate": ["a\ud800b", /lone UTF-16 surrogate \(U\+D800\)/],
  "lone low surrogate": ["\udc01", /lone UTF-16 surrogate \(U\+DC01\)/],
} as const;
const HOSTILE_DATES = {
  "year 10000": [new Date("+010000-01-01T00:00:00Z"), /outside the years 0001 to 9999/],
  "year -1": [new Date("-000001-06-01T00:00:00Z"), /outside the years 0001 to 9999/],
  "an invalid date": [new Date(Number.NaN), /not a valid date/],
} as const;

async function refusal(p: Promise<unknown>): Promise<TRPCError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(e instanceof TRPCError)) throw new Error(`expected a TRPCError, got ${String(e)}`);
  return e;
}

describe("hostile text", () => {
  for (const [kind, [text, message]] of Object.entries(HOSTILE_TEXT)) {
    it(`answers 400 naming the field to ${kind} in a mutation, and audits the failure`, async () => {
      const e = await refusal(site.teams.create({ name: text }));
      expect(e.code).toBe("BAD_REQUEST");
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/"name"/);
      const row = await t.db.auditEvent.findFirstOrThrow({
        where: { action: "teams.create", outcome: "failure" },
        orderBy: { at: "desc" },
      });
      expect((row.details as { error: string }).error).toBe(e.message);
      expect(await t.db.team.count()).toBe(0);
    });

    it(`answers 400 to ${kind} deep in a query's input`, async () => {
      const e = await refusal(site.restorePoints.search({ disk: "ok", q: text }));
      expect([e.code, e.message]).toEqual(["BAD_REQUEST", expect.stringMatching(message)]);
      expect(e.message).toMatch(/"q"/);
      const nested = await refusal(
        site.teams.addMember({
          teamId: "team",
          email: "x@hostile.test",
          role: "admin",
          extra: { list: ["ok", text] },
        } as never),
      );
      expect(nested.code).toBe("BAD_REQUEST");
      expect(nested.message).toMatch(/"extra\.list\[1\]"/);
    });

    it(`answers 400 to ${kind} in a field name, without echoing it`, async () => {
      const e = await refusal(site.teams.create({ name: "Fine", [`k${text}`]: 1 } as never));
      expect(e.code).toBe("BAD_REQUEST");
      expect(e.message).toMatch(/field name/);
      expect(malformedInput(e.message)).toBeNull();
    });
  }
});

describe("deep input", () => {
  it("finds a NUL ten thousand levels down and names only the innermost part of its path", async () => {
    let extra: unknown = ["a\u0000"];
    for (let i = 0; i < 10_000; i++) extra = { [`level${"k".repeat(200)}`]: extra };
    const e = await refusal(site.teams.create({ name: "Deep", extra } as never));
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.message).toMatch(/^The text in "….*\[0\]" contains a NUL character/);
    expect(e.message.length).toBeLessThan(1200);
  });
});

describe("out-of-range dates", () => {
  for (const [kind, [date, message]] of Object.entries(HOSTILE_DATES)) {
    it(`answers 400 to ${kind} in the catalog's and the audit log's filters`, async () => {
      for (const call of [
        () => site.restorePoints.search({ from: date }),
        () => site.audit.list({ to: date }),
      ]) {
        const e = await refusal(call());
        expect([e.code, e.message]).toEqual(["BAD_REQUEST", expect.stringMatching(message)]);
      }
    });
  }

  it("accepts the first and the last day of the range", async () => {
    const first = new Date(0);
    first.setUTCFullYear(1, 0, 1);
    await expect(site.restorePoints.search({ from: first })).resolves.toBeDefined();
    await expect(site.audit.list({ to: new Date("9999-12-31T23:59:59.999Z") })).resolves.toBeDefined();
  });
});

describe("well-formed text", () => {
  it("passes untouched, surrogate pairs (emoji) included", async () => {
    const team = await site.teams.create({ name: "Rescue 🛟 Ünïcode" });
    expect(team.name).toBe("Rescue 🛟 Ünïcode");
  });
});

describe("the audit writer", () => {
  it("stores a row whatever text it quotes, NUL and lone surrogates replaced", async () => {
    await recordAudit(t.db, {
      action: "test.quote",
      outcome: "failure",
      targetId: "t\u0000x",
      details: { error: "bad \u0000 and \ud800 here", nested: ["\udc00"] },
    });
    const row = await t.db.auditEvent.findFirstOrThrow({ where: { action: "test.quote" } });
    expect(row.targetId).toBe("t\ufffdx");
    expect(row.details).toEqual({ error: "bad \ufffd and \ufffd here", nested: ["\ufffd"] });
  });
});
