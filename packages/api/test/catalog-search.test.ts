import { randomUUID } from "node:crypto";
import { type Db, Prisma } from "@lifeboat/db";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import type { Actor } from "@lifeboat/domain";
import { catalogPageSql, encodeCursor, recomputeVmTeams, restorePointSearchText } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { createTestApi } from "../src/testing";

/**
 * The restore-point catalog search (restorePoints.search): filters alone and combined, every sort order over
 * complete keyset pagination, ties on createdAt, inserts between pages, the last page, malformed cursors, team
 * scoping — and EXPLAIN proving the trigram index answers text queries on a catalog of 30 000 rows.
 */

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
type Caller = Awaited<ReturnType<ReturnType<typeof createTestApi>["caller"]>>;
let admin: Caller;
let memberA: Caller;
let teamA: string;
let teamB: string;
let engine1: string;
let engine2: string;
const vms: Record<string, { id: string; engineId: string; name: string }> = {};

interface PointSpec {
  vm: string;
  at: string;
  bytes?: number;
  state?: string;
  verifyState?: string;
  tags?: string[];
  description?: string;
  osType?: string;
  disks?: string[];
  /** Taken through the engine's backup API (else the snapshot chain): its checkpoint and per-disk byte counts. */
  api?: { mode: "full" | "incremental"; checkpointId: string; changedBytes: number };
}

/** A restore point as the backup records it (searchText built by the catalog's own function). */
async function point(db: Db, s: PointSpec): Promise<string> {
  const vm = vms[s.vm];
  if (!vm) throw new Error(`no vm ${s.vm}`);
  const disks = s.disks ?? [`${s.vm}_Disk1`];
  const rp = await db.restorePoint.create({
    data: {
      vmId: vm.id,
      engineId: vm.engineId,
      vmName: vm.name,
      createdAt: new Date(s.at),
      ovf: "<ovf:Envelope/>",
      state: s.state ?? "complete",
      verifyState: s.verifyState ?? "unverified",
      logicalBytes: BigInt(s.bytes ?? 1000),
      tags: s.tags ?? [],
      description: s.description ?? "",
      osType: s.osType ?? null,
      ...(s.api
        ? {
            kind: "incremental",
            backupMode: s.api.mode,
            toCheckpointId: s.api.checkpointId,
            transferredBytes: BigInt(s.api.changedBytes * disks.length),
          }
        : {}),
      searchText: restorePointSearchText({
        vmName: vm.name,
        diskAliases: disks,
        description: s.description,
        tags: s.tags,
        osType: s.osType,
      }),
      disks: {
        create: disks.map((alias, position) => ({
          diskId: `disk-${alias}`,
          alias,
          provisionedSize: 1n << 30n,
          format: "cow",
          position,
          ...(s.api
            ? {
                backupMode: s.api.mode,
                transferredBytes: BigInt(s.api.changedBytes),
                changedBytes: BigInt(s.api.changedBytes),
              }
            : {}),
          layers: {
            create: [0, 1].map((i) => ({
              position: i,
              imageId: randomUUID(),
              format: "cow",
              virtualSize: 1n << 30n,
              size: 1000n,
              sha256: "0".repeat(64),
              manifestId: randomUUID(),
              reused: i === 0,
            })),
          },
        })),
      },
    },
  });
  return rp.id;
}

async function all(caller: Caller, input: Parameters<Caller["restorePoints"]["search"]>[0], limit: number) {
  const ids: string[] = [];
  let cursor = input.cursor;
  for (let pages = 0; pages < 100; pages++) {
    const page = await caller.restorePoints.search({ ...input, cursor, limit });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    ids.push(...page.items.map((i) => i.id));
    if (!page.nextCursor) return ids;
    expect(page.items.length).toBe(limit);
    cursor = page.nextCursor;
  }
  throw new Error("more than 100 pages");
}

const codeOf = (e: unknown) => (e instanceof TRPCError ? e.code : String(e));

let ids: Record<string, string> = {};

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  const mkEngine = async (name: string) =>
    (
      await t.db.engine.create({
        data: { name, apiUrl: `https://${name}.test/ovirt-engine/api`, username: "u", secretSealed: "x" },
      })
    ).id;
  engine1 = await mkEngine("engine-one");
  engine2 = await mkEngine("engine-two");
  teamA = randomUUID();
  teamB = randomUUID();
  await t.db.team.create({ data: { id: teamA, name: "A", slug: "a" } });
  await t.db.team.create({ data: { id: teamB, name: "B", slug: "b" } });
  await t.db.teamVmRule.create({ data: { teamId: teamA, kind: "name-pattern", pattern: "web*" } });
  await t.db.teamVmRule.create({ data: { teamId: teamB, kind: "name-pattern", pattern: "db*" } });
  for (const [name, engineId] of [
    ["web01", engine1],
    ["web02", engine2],
    ["db01", engine1],
  ] as const)
    vms[name] = await t.db.vm.create({ data: { engineId, vmId: randomUUID(), name } });
  await recomputeVmTeams(t.db);
  ids = {
    w1a: await point(t.db, {
      vm: "web01",
      at: "2026-01-01T10:00:00Z",
      bytes: 500,
      tags: ["nightly"],
      osType: "rhel_9x64",
    }),
    w1b: await point(t.db, {
      vm: "web01",
      at: "2026-01-02T10:00:00Z",
      bytes: 900,
      tags: ["nightly", "pre-upgrade"],
      verifyState: "ok",
      description: "before the kernel upgrade",
      api: { mode: "full", checkpointId: "ckpt-w1b", changedBytes: 1 << 30 },
    }),
    w1c: await point(t.db, { vm: "web01", at: "2026-01-03T10:00:00Z", bytes: 700, state: "failed" }),
    w2a: await point(t.db, {
      vm: "web02",
      at: "2026-01-02T12:00:00Z",
      bytes: 300,
      verifyState: "failed",
      disks: ["web02_boot", "web02_data"],
    }),
    w2b: await point(t.db, {
      vm: "web02",
      at: "2026-01-04T12:00:00Z",
      bytes: 900,
      tags: ["nightly"],
      osType: "windows_2019x64",
      api: { mode: "incremental", checkpointId: "ckpt-w2b", changedBytes: 4096 },
    }),
    d1a: await point(t.db, {
      vm: "db01",
      at: "2026-01-03T12:00:00Z",
      bytes: 5000,
      tags: ["nightly"],
      description: "web shop database",
    }),
  };
  const adminUser = await api.createUser({ email: "admin@catalog.test", role: "admin" });
  admin = await api.caller(await api.signIn(adminUser.email, adminUser.password));
  const a = await api.createUser({ email: "a@catalog.test" });
  await t.db.membership.create({ data: { id: randomUUID(), teamId: teamA, userId: a.id, role: "viewer" } });
  memberA = await api.caller(await api.signIn(a.email, a.password));
});

afterAll(async () => {
  await stopBosses();
  await t.drop();
});

describe("restorePoints.search: results and filters", () => {
  it("shows VM, engine, time, size, layers and verification of each point", async () => {
    const page = await admin.restorePoints.search({ q: "kernel" });
    expect(page.nextCursor).toBeNull();
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({
      id: ids.w1b,
      vmName: "web01",
      engineName: "engine-one",
      createdAt: new Date("2026-01-02T10:00:00Z"),
      logicalBytes: 900,
      diskCount: 1,
      layerCount: 2,
      reusedLayerCount: 1,
      verifyState: "ok",
      tags: ["nightly", "pre-upgrade"],
      backupMode: "full",
      checkpointId: "ckpt-w1b",
      transferredBytes: 1 << 30,
      changedBytes: 1 << 30,
    });
    // A snapshot-chain point names no checkpoint and counts no changed bytes.
    const chain = (await admin.restorePoints.search({ vmId: vms.db01?.id })).items[0];
    expect(chain).toMatchObject({ backupMode: "snapshot-chain", checkpointId: null, changedBytes: null });
  });

  it("answers an empty page (and no cursor) when nothing matches", async () => {
    expect(await admin.restorePoints.search({ q: "no-such-thing-anywhere" })).toEqual({
      items: [],
      nextCursor: null,
    });
    expect(await memberA.restorePoints.search({ vmId: vms.db01?.id })).toEqual({
      items: [],
      nextCursor: null,
    });
  });

  it("matches every word, in any order and case, across VM name, disk alias, tags, description and OVF facts", async () => {
    const q = async (text: string) =>
      (await admin.restorePoints.search({ q: text })).items.map((i) => i.id).sort();
    expect(await q("WEB02_DATA")).toEqual([ids.w2a]);
    expect(await q("pre-upgrade")).toEqual([ids.w1b]);
    expect(await q("upgrade kernel")).toEqual([ids.w1b]);
    expect(await q("os:windows")).toEqual([ids.w2b]);
    // "web" is in db01's description: one word may match different fields of different points.
    expect(await q("web shop")).toEqual([ids.d1a]);
    expect(await q("100%")).toEqual([]);
  });

  it("filters by VM, disk, engine, dates, state, tag, verification and mode — alone and combined", async () => {
    const f = async (input: Parameters<Caller["restorePoints"]["search"]>[0]) =>
      (await admin.restorePoints.search(input)).items.map((i) => i.id).sort();
    expect(await f({ vmId: vms.web01?.id })).toEqual([ids.w1a, ids.w1b, ids.w1c].sort());
    expect(await f({ disk: "WEB02_boot" })).toEqual([ids.w2a]);
    expect(await f({ disk: "disk-web01_Disk1" })).toEqual([ids.w1a, ids.w1b, ids.w1c].sort());
    expect(await f({ engineId: engine2 })).toEqual([ids.w2a, ids.w2b].sort());
    expect(await f({ from: new Date("2026-01-03T00:00:00Z"), to: new Date("2026-01-04T00:00:00Z") })).toEqual(
      [ids.w1c, ids.d1a].sort(),
    );
    expect(await f({ state: ["failed"] })).toEqual([ids.w1c]);
    expect(await f({ tag: "nightly" })).toEqual([ids.w1a, ids.w1b, ids.w2b, ids.d1a].sort());
    expect(await f({ verifyState: ["failed", "ok"] })).toEqual([ids.w2a, ids.w1b].sort());
    expect(await f({ mode: ["incremental"] })).toEqual([ids.w2b]);
    expect(await f({ mode: ["full", "incremental"], tag: "nightly" })).toEqual([ids.w1b, ids.w2b].sort());
    expect(await f({ mode: ["snapshot-chain"], vmId: vms.web01?.id })).toEqual([ids.w1a, ids.w1c].sort());
    // @ts-expect-error: the mode of a point is full, incremental or snapshot-chain
    await expect(f({ mode: ["auto"] })).rejects.toSatisfy((e) => codeOf(e) === "BAD_REQUEST");
    expect(
      await f({
        tag: "nightly",
        engineId: engine1,
        state: ["complete"],
        q: "web",
        from: new Date("2026-01-02T00:00:00Z"),
      }),
    ).toEqual([ids.w1b, ids.d1a].sort());
    expect(await f({ tag: "nightly", vmId: vms.web02?.id, verifyState: ["ok"] })).toEqual([]);
  });

  it("refuses an empty date range in words", async () => {
    await expect(
      admin.restorePoints.search({ from: new Date("2026-02-01"), to: new Date("2026-01-01") }),
    ).rejects.toThrow(/start must be before the end/);
  });
});

describe("restorePoints.search: sorting and keyset pages", () => {
  it("pages through every sort order in the right order, every row exactly once", async () => {
    const rows = await t.db.restorePoint.findMany();
    const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    const expected = {
      newest: [...rows].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || byId(a, b)),
      oldest: [...rows].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || byId(b, a)),
      vm: [...rows].sort(
        (a, b) =>
          (a.vmName < b.vmName ? -1 : a.vmName > b.vmName ? 1 : 0) ||
          b.createdAt.getTime() - a.createdAt.getTime() ||
          byId(a, b),
      ),
      largest: [...rows].sort((a, b) => Number(b.logicalBytes - a.logicalBytes) || byId(a, b)),
      smallest: [...rows].sort((a, b) => Number(a.logicalBytes - b.logicalBytes) || byId(b, a)),
    } as const;
    for (const [sort, want] of Object.entries(expected)) {
      for (const limit of [1, 2, 4, 100]) {
        const got = await all(admin, { sort: sort as keyof typeof expected }, limit);
        expect(got, `${sort} by ${limit}`).toEqual(want.map((r) => r.id));
      }
    }
  });

  it("gives exactly one page and no cursor when the results fill the page", async () => {
    const page = await admin.restorePoints.search({ vmId: vms.web01?.id, limit: 3 });
    expect(page.items).toHaveLength(3);
    expect(page.nextCursor).toBeNull();
  });

  it("answers an empty last page for a cursor at the last row", async () => {
    const rows = await admin.restorePoints.search({ sort: "oldest", limit: 100 });
    const last = rows.items[rows.items.length - 1];
    if (!last) throw new Error("no rows");
    const cursor = encodeCursor({ s: "oldest", c: last.createdAt.toISOString(), i: last.id });
    expect(await admin.restorePoints.search({ sort: "oldest", cursor })).toEqual({
      items: [],
      nextCursor: null,
    });
  });

  it("breaks ties on createdAt by id: no row is skipped or repeated when many share one instant", async () => {
    const at = "2025-06-01T00:00:00.123Z";
    const tied: string[] = [];
    for (let i = 0; i < 5; i++) tied.push(await point(t.db, { vm: "web02", at, bytes: 42, tags: ["tie"] }));
    for (const sort of ["newest", "oldest", "vm", "largest", "smallest"] as const) {
      const got = await all(admin, { tag: "tie", sort }, 2);
      expect(got.slice().sort(), sort).toEqual(tied.slice().sort());
      expect(new Set(got).size).toBe(5);
    }
    expect(await all(admin, { tag: "tie" }, 1)).toEqual(tied.slice().sort());
  });

  it("stays stable when points are inserted between two pages", async () => {
    const first = await admin.restorePoints.search({ tag: "nightly", limit: 2 });
    // A backup finishes meanwhile (newest of all) and an old one is imported (oldest of all).
    const newest = await point(t.db, { vm: "web01", at: "2026-03-01T00:00:00Z", tags: ["nightly"] });
    await point(t.db, { vm: "web01", at: "2020-01-01T00:00:00Z", tags: ["nightly"] });
    const rest = await all(admin, { tag: "nightly", cursor: first.nextCursor ?? undefined }, 2);
    const seen = [...first.items.map((i) => i.id), ...rest];
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of [ids.w1a, ids.w1b, ids.w2b, ids.d1a]) expect(seen).toContain(id);
    // Newer than the cursor: it belongs to a fresh search, not to the following pages.
    expect(seen).not.toContain(newest);
  });

  it("refuses a malformed cursor, or one of another sort order, with 400", async () => {
    for (const cursor of [
      "garbage!",
      "eyJzIjoibmV3ZXN0In0",
      Buffer.from("[1,2]").toString("base64url"),
      "x".repeat(900),
    ]) {
      const e = await admin.restorePoints.search({ cursor }).catch((err: unknown) => err);
      expect(codeOf(e), cursor).toBe("BAD_REQUEST");
      expect(getHTTPStatusCodeFromError(e as TRPCError)).toBe(400);
    }
    const page = await admin.restorePoints.search({ limit: 1 });
    const e = await admin.restorePoints
      .search({ sort: "largest", cursor: page.nextCursor ?? "" })
      .catch((x: unknown) => x);
    expect(codeOf(e)).toBe("BAD_REQUEST");
    expect((e as Error).message).toMatch(/another sort order/);
  });
});

describe("restorePoints.search: team scope", () => {
  it("never returns another team's restore points, whatever the query, filters or team asked for", async () => {
    const mine = await all(memberA, {}, 3);
    const visible = await t.db.restorePoint.findMany({
      where: { vm: { teams: { some: { teamId: teamA } } } },
    });
    expect(mine.slice().sort()).toEqual(visible.map((r) => r.id).sort());
    expect(mine).not.toContain(ids.d1a);
    expect((await memberA.restorePoints.search({ q: "database" })).items).toEqual([]);
    expect((await memberA.restorePoints.search({ teamId: teamB })).items).toEqual([]);
    expect(
      (await memberA.restorePoints.search({ engineId: engine1, tag: "pre-upgrade" })).items.map((i) => i.id),
    ).toEqual([ids.w1b]);
    // A site administrator sees all teams' points, and can narrow to one team.
    expect(
      (await admin.restorePoints.search({ teamId: teamB, tag: "nightly" })).items.map((i) => i.id),
    ).toEqual([ids.d1a]);
  });

  it("offers only the caller's VMs, engines and tags as filter choices", async () => {
    const f = await memberA.restorePoints.facets();
    expect(f.vms.map((v) => v.name)).toEqual(["web01", "web02"]);
    expect(f.engines.map((e) => e.name).sort()).toEqual(["engine-one", "engine-two"]);
    expect(f.tags).toContain("pre-upgrade");
    const all2 = await admin.restorePoints.facets();
    expect(all2.vms.map((v) => v.name)).toEqual(["db01", "web01", "web02"]);
  });
});

describe("the trigram index", () => {
  it("answers text queries on a large catalog (EXPLAIN shows the index, not a sequential scan)", async () => {
    // 30 000 more points over 300 VMs, written by SQL (realistic names, aliases and tags).
    await t.db.$executeRaw`
      INSERT INTO vm (id, "engineId", "vmId", name)
      SELECT 'bulk-vm-' || g, ${engine1}, gen_random_uuid()::text,
             (ARRAY['web','db','app','mail','ldap','build'])[1 + g % 6] || '-' || lpad(g::text, 4, '0')
      FROM generate_series(1, 300) g`;
    await t.db.$executeRaw`
      INSERT INTO restore_point (id, "vmId", "engineId", "vmName", "createdAt", state, ovf, "logicalBytes", tags,
                                 "searchText")
      SELECT gen_random_uuid()::text, 'bulk-vm-' || (1 + g % 300), ${engine1}, v.name,
             timestamp '2025-01-01' + (g || ' minutes')::interval, 'complete', '', (g * 7919) % 100000,
             ARRAY['nightly'],
             lower(v.name || ' ' || v.name || '_disk1 nightly os:rhel_9x64 nics:' || (1 + g % 3))
      FROM generate_series(1, 30000) g JOIN vm v ON v.id = 'bulk-vm-' || (1 + g % 300)`;
    await t.db.$executeRawUnsafe("ANALYZE restore_point");
    const actor = { userId: "x", name: "x", email: "x", siteAdmin: true, teamIds: [] };
    // The rare word's query as the search runs it once the walk found too little: through the indexes.
    const sql = catalogPageSql(actor, { q: "ldap-0124" }, { sort: "newest", limit: 50, strategy: "index" });
    const explain = await t.db.$queryRaw<Array<{ "QUERY PLAN": string }>>(Prisma.sql`EXPLAIN ${sql}`);
    const plan = explain.map((r) => r["QUERY PLAN"]).join("\n");
    expect(plan).toContain("restore_point_search_trgm");
    expect(plan).not.toMatch(/Seq Scan on restore_point\b/);
    // And the query answers what the index found.
    const page = await admin.restorePoints.search({ q: "ldap-0124" });
    expect(page.items.length).toBe(50);
    expect(page.items.every((i) => i.vmName === "ldap-0124")).toBe(true);
    expect(await all(admin, { q: "ldap-0124" }, 50)).toHaveLength(100);
  });

  it("answers the same rows whichever strategy finds them: walk, indexes or the planner's own", async () => {
    const member: Actor = { userId: "m", name: "m", email: "m", siteAdmin: false, teamIds: [teamA] };
    const site: Actor = { userId: "s", name: "s", email: "s", siteAdmin: true, teamIds: [] };
    const ids = async (
      a: Actor,
      f: Parameters<typeof catalogPageSql>[1],
      sort: "newest" | "vm" | "largest",
      strategy: "plain" | "index",
      scope?: string[],
    ) =>
      (
        await t.db.$queryRaw<Array<{ id: string | null }>>(
          catalogPageSql(a, f, { sort, limit: 30, strategy, scopeVmIds: scope }),
        )
      )
        .map((r) => r.id)
        .filter((id): id is string => id !== null)
        .slice(0, 30);
    const teamVms = (await t.db.vmTeam.findMany({ where: { teamId: teamA } })).map((v) => v.vmId);
    for (const f of [
      { q: "web" },
      { q: "nightly" },
      { q: "ldap mail" },
      { q: "db-0005" },
      { q: "nics:2", engineId: engine1 },
    ])
      for (const sort of ["newest", "vm", "largest"] as const) {
        const plain = await ids(site, f, sort, "plain");
        expect(await ids(site, f, sort, "index"), `${JSON.stringify(f)} ${sort}`).toEqual(plain);
        const mine = await ids(member, f, sort, "plain");
        expect(await ids(member, f, sort, "index", teamVms)).toEqual(mine);
        // The procedure (walk first, indexes when needed) pages to the same rows.
        expect((await admin.restorePoints.search({ ...f, sort, limit: 30 })).items.map((i) => i.id)).toEqual(
          plain,
        );
        expect(
          (await memberA.restorePoints.search({ ...f, sort, limit: 30 })).items.map((i) => i.id),
        ).toEqual(mine);
      }
  });
});
