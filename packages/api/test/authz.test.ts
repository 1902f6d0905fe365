import fs from "node:fs";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { flushAnonymousDenials } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { appRouter } from "../src/routers/root";
import type { AuthzCase } from "./authz/case";
import { buildWorld, ROLES, type Role, type Scope, type World } from "./authz/world";

/**
 * The authorization matrix: EVERY procedure of appRouter × every role (viewer, operator, approver, team admin,
 * site admin, anonymous) × own team / other team. Cases live in test/authz/cases/<area>.ts, one file per router
 * area (see test/authz/case.ts for the rules); a procedure without a case fails this file.
 */
const caseDir = new URL("./authz/cases/", import.meta.url);
const caseFiles = fs.readdirSync(caseDir).filter((f) => f.endsWith(".ts"));
const allCases: AuthzCase[] = [];
for (const file of caseFiles) {
  const mod = (await import(new URL(file, caseDir).href)) as { default: AuthzCase[] };
  allCases.push(...mod.default);
}

const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>;
const paths = Object.keys(procedures).sort();

let t: TestDatabase;
let w: World;

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  w = await buildWorld(t.db, t.url);
});
afterAll(async () => {
  await stopBosses();
  await t.drop();
});

describe("coverage", () => {
  it("has a case for every procedure of the router", () => {
    const covered = new Set(allCases.map((c) => c.path));
    expect(paths.filter((p) => !covered.has(p))).toEqual([]);
  });

  it("has no case for a procedure that does not exist, and one case per procedure", () => {
    const known = new Set(paths);
    expect(allCases.map((c) => c.path).filter((p) => !known.has(p))).toEqual([]);
    const seen = allCases.map((c) => c.path);
    expect(seen.filter((p, i) => seen.indexOf(p) !== i)).toEqual([]);
  });
});

type Expected = "ok" | "unauthorized" | "denied" | "empty";

/**
 * The calls of `path` the audit log accounts for: its rows, plus those only counted into the summary rows of
 * denied calls without a session (written after a few per minute; flushed here first).
 */
async function auditedCalls(path: string): Promise<number> {
  await flushAnonymousDenials(w.db);
  const summaries = await w.db.auditEvent.findMany({ where: { action: "audit.anonymousDenials" } });
  const counted = summaries.reduce(
    (n, r) => n + ((r.details as { actions?: Record<string, number> }).actions?.[path] ?? 0),
    0,
  );
  return (await w.db.auditEvent.count({ where: { action: path } })) + counted;
}

function expectedFor(c: AuthzCase, role: Role, scope: Scope): Expected {
  const allowed = c.allow.includes(role);
  if (role === "anonymous") return allowed ? "ok" : "unauthorized";
  if (!allowed) return "denied";
  if (scope === "own" || c.target === "global" || role === "site-admin") return "ok";
  return c.otherTeam === "empty" ? "empty" : "denied";
}

const rows = allCases.flatMap((c) =>
  ROLES.flatMap((role) =>
    (["own", "other"] as const).map(
      (scope) => [c.path, role, scope, expectedFor(c, role, scope), c] as const,
    ),
  ),
);

describe("matrix", () => {
  it.each(rows)("%s as %s on %s team → %s", async (path, role, scope, expected, c) => {
    const mutation = procedures[path]?._def.type === "mutation";
    const auditBefore = mutation ? await auditedCalls(path) : 0;
    const caller = await w.caller(role);
    const teamId = w.team(scope);
    const outcome = await c.call({ w, caller, role, scope, teamId }).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );

    if (expected === "ok" || expected === "empty") {
      if (!outcome.ok) throw outcome.error;
      if (c.teamsIn) {
        const teams = await c.teamsIn(outcome.value, w);
        // Role users are members of team A only: nothing of another team may come back.
        if (role !== "site-admin") expect(teams.filter((id) => id !== w.teamA)).toEqual([]);
        if (expected === "empty") expect(teams.filter((id) => id === w.teamB)).toEqual([]);
      }
    } else {
      expect(outcome.ok, `expected ${expected}, but the call succeeded`).toBe(false);
      const code = outcome.ok
        ? ""
        : outcome.error instanceof TRPCError
          ? outcome.error.code
          : String(outcome.error);
      if (expected === "unauthorized") expect(code).toBe("UNAUTHORIZED");
      else expect(["FORBIDDEN", "NOT_FOUND"]).toContain(code);
    }

    if (mutation) {
      const rowsAfter = await w.db.auditEvent.findMany({
        where: { action: path },
        orderBy: { at: "desc" },
        take: 1,
      });
      expect(await auditedCalls(path)).toBe(auditBefore + 1);
      const row = rowsAfter[0];
      if (outcome.ok) expect(row?.outcome).toBe("success");
      else if (role !== "anonymous") expect(["denied", "failure"]).toContain(row?.outcome);
      if (role !== "anonymous") expect(row?.actorId).toBe(w.user(role).id);
    }
  });
});
