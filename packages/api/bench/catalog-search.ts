/**
 * The restore-point catalog search at scale: 100 000 restore points (1 000 000 with `--full` or BENCH_FULL=1)
 * seeded by SQL into a bench database — realistic VM names, disk aliases, tags, OS types, teams owning VMs by
 * name pattern, one to three disks per point and two layers per disk — then p50 / p95 of the
 * `restorePoints.search` procedure (guard, scope, SQL, output validation) for:
 * - text queries (rare and common words, tags, OS facts, several words),
 * - filtered queries (engine + state + dates + verification, one VM, one tag, a team member's scope),
 * - deep pages (a cursor 10 000 rows into the results, plain and with a text query),
 * each against baselines measured in the same run on the same database:
 * - `restorePoints.get` of one point (a primary-key lookup through the same stack),
 * - the same text query with the trigram index switched off (what a full scan costs),
 * - the same deep page with OFFSET instead of the cursor.
 *
 *   pnpm --filter @lifeboat/api bench               (BENCH_POINTS=100000)
 *   BENCH_FULL=1 pnpm --filter @lifeboat/api bench  (1 000 000; seeding takes a few minutes)
 *
 * Results go to stdout and to packages/api/bench-results/catalog-search-<points>.json.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Prisma } from "@lifeboat/db";
import { createTestDatabase, startTestDatabaseServer } from "@lifeboat/db/testing";
import { type Actor, catalogPageSql } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { createCallerFactory } from "../src";
import { createContext } from "../src/context";

import { appRouter } from "../src/routers/root";
import { createTestApi } from "../src/testing";

const FULL = process.env.BENCH_FULL === "1" || process.argv.includes("--full");
const POINTS = Number(process.env.BENCH_POINTS ?? (FULL ? 1_000_000 : 100_000));
/** About 500 restore points per VM (a year of daily backups and more), at least 200 VMs. */
const VMS = Math.max(200, Math.round(POINTS / 500));
const TEAMS = 20;
const RUNS = Number(process.env.BENCH_RUNS ?? 40);

interface Stat {
  p50: number;
  p95: number;
  runs: number;
}

async function measure(fn: () => Promise<unknown>, runs = RUNS): Promise<Stat> {
  for (let i = 0; i < 3; i++) await fn(); // warm-up: plans, caches, connections
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.ceil(q * samples.length) - 1)] ?? 0;
  return { p50: at(0.5), p95: at(0.95), runs };
}

const fmt = (ms: number) => `${ms.toFixed(1).padStart(7)} ms`;

const started = performance.now();
const server = await startTestDatabaseServer();
const t = await createTestDatabase(server);
const results: Record<string, Stat & { ratio: number; hits?: number }> = {};
try {
  const db = t.db;
  const say = (s: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${s}`);
  say(`seeding ${POINTS} restore points of ${VMS} VMs on 3 engines, ${TEAMS} teams`);
  // Bulk load: the live-event triggers stay out of it (a NOTIFY per seeded row would only fill the queue).
  await db.$transaction(
    async (tx) => {
      await tx.$executeRawUnsafe("SET LOCAL session_replication_role = replica");
      await tx.$executeRaw`
        INSERT INTO engine (id, name, "apiUrl", username, "secretSealed", "updatedAt")
        SELECT 'engine-' || g, 'engine-' || g || '.example.com', 'https://engine-' || g || '.example.com/ovirt-engine/api',
               'admin@internal', 'sealed', now()
        FROM generate_series(1, 3) g`;
      await tx.$executeRaw`
        INSERT INTO vm (id, "engineId", "vmId", name, "osType", "clusterName", tags, "diskCount")
        SELECT 'vm-' || g, 'engine-' || (1 + g % 3), gen_random_uuid()::text,
               (ARRAY['web','db','app','mail','ldap','build','cache','proxy','mq','search'])[1 + g % 10]
                 || '-' || (ARRAY['prod','stage','dev'])[1 + (g / 10) % 3] || '-' || lpad(g::text, 4, '0'),
               (ARRAY['rhel_9x64','rhel_8x64','windows_2019x64','debian_12','ubuntu_22_04'])[1 + g % 5],
               'Cluster-' || (1 + g % 4), ARRAY['site-' || (1 + g % 2)], 1 + g % 3
        FROM generate_series(1, ${VMS}) g`;
      await tx.$executeRaw`
        INSERT INTO team (id, name, slug) SELECT 'team-' || g, 'Team ' || g, 'team-' || g FROM generate_series(0, ${TEAMS - 1}) g`;
      // Each team owns the VMs whose number ends in its own digits (5 % of the inventory each).
      await tx.$executeRaw`
        INSERT INTO vm_team ("vmId", "teamId") SELECT 'vm-' || g, 'team-' || (g % ${TEAMS}) FROM generate_series(1, ${VMS}) g`;
      await tx.$executeRaw`
        INSERT INTO restore_point (id, "vmId", "engineId", "vmName", "createdAt", state, "verifyState", "verifiedAt", ovf,
          "osType", "clusterName", "nicCount", "virtualBytes", "logicalBytes", "newStoredBytes", tags, description, "searchText")
        SELECT 'rp-' || g, v.id, v."engineId", v.name,
               timestamp '2024-11-01' + ((g * (63072000.0 / ${POINTS}))::bigint || ' seconds')::interval,
               CASE WHEN g % 97 = 0 THEN 'failed' ELSE 'complete' END,
               CASE WHEN g % 5 = 0 THEN 'ok' WHEN g % 331 = 0 THEN 'failed' ELSE 'unverified' END,
               CASE WHEN g % 5 = 0 THEN timestamp '2026-11-01' ELSE NULL END,
               '', v."osType", v."clusterName", 1 + g % 3, (20 + g % 200)::bigint << 30,
               ((g::bigint * 7919) % 50000 + 100) << 20, ((g::bigint * 104729) % 2000) << 20,
               CASE WHEN g % 7 = 0 THEN ARRAY['weekly'] WHEN g % 31 = 0 THEN ARRAY['pre-upgrade', 'ticket-' || (g % 9000)]
                    ELSE ARRAY['nightly'] END,
               CASE WHEN g % 31 = 0 THEN 'before the ' || (ARRAY['kernel','database','app','firmware'])[1 + g % 4] || ' upgrade'
                    ELSE '' END,
               lower(v.name || ' ' || v.name || '_disk1' || CASE WHEN v."diskCount" > 1 THEN ' ' || v.name || '_disk2' ELSE '' END
                 || CASE WHEN g % 31 = 0 THEN ' before the upgrade pre-upgrade ticket-' || (g % 9000)
                         WHEN g % 7 = 0 THEN ' weekly' ELSE ' nightly' END
                 || ' os:' || v."osType" || ' cluster:' || v."clusterName" || ' nics:' || (1 + g % 3))
        FROM generate_series(1, ${POINTS}) g JOIN vm v ON v.id = 'vm-' || (1 + g % ${VMS})`;
      say("restore points written; disks and layers next");
      await tx.$executeRaw`
        INSERT INTO restore_point_disk (id, "restorePointId", "diskId", alias, "provisionedSize", format, position, bootable)
        SELECT rp.id || '-d' || d, rp.id, rp."vmId" || '-disk' || d, rp."vmName" || '_Disk' || d, 21474836480, 'cow', d - 1, d = 1
        FROM restore_point rp JOIN vm v ON v.id = rp."vmId" CROSS JOIN generate_series(1, 3) d
        WHERE d <= v."diskCount"`;
      await tx.$executeRaw`
        INSERT INTO layer (id, "restorePointDiskId", position, "imageId", format, "virtualSize", size, sha256, "manifestId", reused)
        SELECT d.id || '-l' || l, d.id, l, gen_random_uuid()::text, 'cow', 21474836480, 1073741824, '', 'm', l = 0
        FROM restore_point_disk d CROSS JOIN generate_series(0, 1) l`;
    },
    { timeout: 3_600_000, maxWait: 60_000 },
  );
  say("analyzing");
  await db.$executeRawUnsafe("ANALYZE");
  const counts = await db.$queryRaw<Array<{ points: bigint; disks: bigint; layers: bigint }>>`
    SELECT (SELECT count(*) FROM restore_point) AS points, (SELECT count(*) FROM restore_point_disk) AS disks,
           (SELECT count(*) FROM layer) AS layers`;
  say(`catalog: ${JSON.stringify(counts[0], (_k, v) => (typeof v === "bigint" ? Number(v) : v))}`);

  const api = createTestApi(db, t.url);
  const admin = await api.createUser({ email: "bench@lifeboat.test", role: "admin" });
  const member = await api.createUser({ email: "member@lifeboat.test" });
  await db.membership.create({
    data: { id: "bench-m", teamId: "team-3", userId: member.id, role: "viewer" },
  });
  const callerOf = async (email: string, password: string) =>
    createCallerFactory(appRouter)(
      await createContext({
        db,
        auth: api.auth,
        queue: api.queue,
        config: api.config,
        headers: await api.signIn(email, password),
      }),
    );
  const site = await callerOf(admin.email, admin.password);
  const scoped = await callerOf(member.email, member.password);

  const baseline = await measure(() => site.restorePoints.get({ id: "rp-12345" }));
  const ratio = (s: Stat) => s.p50 / baseline.p50;
  const record = (name: string, s: Stat, hits?: number) => {
    results[name] = { ...s, ratio: ratio(s), ...(hits !== undefined ? { hits } : {}) };
    console.log(
      `  ${name.padEnd(48)} p50 ${fmt(s.p50)}  p95 ${fmt(s.p95)}  ×${ratio(s).toFixed(1).padStart(5)}${hits !== undefined ? `  (${hits}${hits === 50 ? "+" : ""} hits)` : ""}`,
    );
  };
  console.log(`\ncatalog search, ${POINTS} restore points, ${os.cpus().length} cores, ${RUNS} runs each`);
  record("baseline: restorePoints.get (one point)", baseline);

  const pick = async (sql: Prisma.Sql) => (await db.$queryRaw<Array<{ v: string }>>(sql))[0]?.v ?? "none";
  const rareVm = await pick(Prisma.sql`SELECT name AS v FROM vm WHERE id = 'vm-54'`);
  const ticket = await pick(
    Prisma.sql`SELECT t AS v FROM restore_point, unnest(tags) t WHERE t LIKE 'ticket-%' ORDER BY id LIMIT 1 OFFSET 7`,
  );
  const texts: Array<[string, string]> = [
    ["text: one VM's name (rare)", rareVm],
    ["text: a common word ('web')", "web"],
    ["text: a tag ('pre-upgrade')", "pre-upgrade"],
    ["text: OS fact ('os:windows')", "os:windows"],
    ["text: two words ('db stage')", "db stage"],
    [`text: a ticket ('${ticket}')`, ticket],
  ];
  for (const [name, q] of texts) {
    const hits = (await site.restorePoints.search({ q, limit: 50 })).items.length;
    record(name, await measure(() => site.restorePoints.search({ q, limit: 50 })), hits);
  }
  const since = new Date("2026-08-01T00:00:00Z");
  const filters: Array<[string, Parameters<typeof site.restorePoints.search>[0]]> = [
    [
      "filtered: engine + complete + last 90 days + verified",
      { engineId: "engine-2", state: ["complete"], from: since, verifyState: ["ok"] },
    ],
    ["filtered: one VM", { vmId: "vm-42" }],
    ["filtered: tag 'weekly', sorted by size", { tag: "weekly", sort: "largest" }],
    ["filtered: damaged points (verify failed)", { verifyState: ["failed"] }],
    ["filtered: text + engine + dates", { q: "app", engineId: "engine-1", from: since }],
  ];
  for (const [name, input] of filters) {
    const hits = (await site.restorePoints.search({ ...input, limit: 50 })).items.length;
    record(name, await measure(() => site.restorePoints.search({ ...input, limit: 50 })), hits);
  }
  {
    const hits = (await scoped.restorePoints.search({ limit: 50 })).items.length;
    record(
      "scoped: a team member's newest page (5 % of VMs)",
      await measure(() => scoped.restorePoints.search({ limit: 50 })),
      hits,
    );
    record(
      "scoped: a team member's text query",
      await measure(() => scoped.restorePoints.search({ q: "web", limit: 50 })),
      (await scoped.restorePoints.search({ q: "web", limit: 50 })).items.length,
    );
  }

  // Deep pages: 100 pages of 100 in, then the next page from that cursor.
  const deepCursor = async (input: Parameters<typeof site.restorePoints.search>[0]) => {
    let cursor: string | undefined;
    for (let i = 0; i < 99; i++) {
      const page = await site.restorePoints.search({ ...input, cursor, limit: 100 });
      cursor = page.nextCursor ?? undefined;
      if (!cursor) break;
    }
    return (await site.restorePoints.search({ ...input, cursor, limit: 100 })).nextCursor ?? undefined;
  };
  for (const [name, input] of [
    ["deep page: row 10 000 of everything, newest first", {}],
    ["deep page: row 10 000 by VM name", { sort: "vm" as const }],
    ["deep page: row 10 000 of 'web', by size", { q: "web", sort: "largest" as const }],
  ] as const) {
    const cursor = await deepCursor(input);
    record(name, await measure(() => site.restorePoints.search({ ...input, cursor, limit: 50 })));
  }

  // What the index and the cursor save: the same queries the slow way.
  const actor: Actor = { userId: "bench", name: "bench", email: "bench", siteAdmin: true, teamIds: [] };
  const noIndex = await measure(
    () =>
      db.$transaction(
        async (tx) => {
          // The trigram index is only ever used through a bitmap scan: without those, every row is read.
          await tx.$executeRawUnsafe("SET LOCAL enable_bitmapscan = off");
          return tx.$queryRaw(catalogPageSql(actor, { q: rareVm }, { sort: "newest", limit: 50 }));
        },
        { timeout: 120_000 },
      ),
    Math.min(RUNS, 10),
  );
  record("slow way: rare-name text query with no index", noIndex);
  const offset = await measure(
    () =>
      db.$queryRaw(
        Prisma.sql`SELECT id FROM restore_point ORDER BY "createdAt" DESC, id ASC LIMIT 50 OFFSET ${Math.min(POINTS / 2, 200_000)}`,
      ),
    Math.min(RUNS, 10),
  );
  record(`slow way: OFFSET ${Math.min(POINTS / 2, 200_000)} (ids only, no details)`, offset);

  if (process.env.BENCH_EXPLAIN === "1") {
    const teamVms = (await db.vmTeam.findMany({ where: { teamId: "team-3" } })).map((v) => v.vmId);
    const member: Actor = { ...actor, siteAdmin: false, teamIds: ["team-3"] };
    for (const [who, a, q, strategy, scope] of [
      ["site walk", actor, rareVm, "walk", undefined],
      ["site index", actor, rareVm, "index", undefined],
      ["member walk", member, "web", "walk", undefined],
      ["member index", member, "web", "index", teamVms],
    ] as const) {
      const plan = await db.$queryRaw<Array<{ "QUERY PLAN": string }>>(
        Prisma.sql`EXPLAIN (ANALYZE, BUFFERS) ${catalogPageSql(a, { q }, { sort: "newest", limit: 50, strategy, scopeVmIds: scope ? [...scope] : undefined })}`,
      );
      console.log(`\n--- ${who} q=${q}\n${plan.map((r) => r["QUERY PLAN"]).join("\n")}`);
    }
  }
  const p95s = Object.entries(results)
    .filter(([k]) => !k.startsWith("baseline") && !k.startsWith("slow way"))
    .map(([, v]) => v.p95);
  const worst = Math.max(...p95s);
  console.log(`\nworst p95 of the search procedure: ${worst.toFixed(1)} ms (target ≤ 50 ms at 1 000 000)`);
  const outDir = path.join(import.meta.dirname, "..", "bench-results");
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(
    path.join(outDir, `catalog-search-${POINTS}.json`),
    `${JSON.stringify({ points: POINTS, vms: VMS, cores: os.cpus().length, runs: RUNS, at: new Date().toISOString(), worstP95: worst, results }, null, 2)}\n`,
  );
} finally {
  await stopBosses();
  await t.drop();
  await server.teardown();
}
