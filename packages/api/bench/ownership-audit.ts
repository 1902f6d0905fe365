/**
 * Team scoping at scale: derive VM ownership (recomputeVmTeams) over a large inventory, and page and search
 * the audit log over many rows, each against a baseline measured on the same database in the same run:
 * - ownership: a plain copy of every inventory VM id into a scratch table (one pass over the inventory);
 * - audit: the newest page of the log with no filter (an index-only walk).
 *
 *   pnpm --filter @lifeboat/api bench     (BENCH_VMS=20000, BENCH_TEAMS=200, BENCH_AUDIT_ROWS=200000)
 */
import { randomUUID } from "node:crypto";
import { createTestDatabase, startTestDatabaseServer } from "@lifeboat/db/testing";
import { recomputeVmTeams } from "@lifeboat/domain";
import { createCallerFactory } from "../src";
import { createContext } from "../src/context";
import { appRouter } from "../src/routers/root";
import { createTestApi } from "../src/testing";

const VMS = Number(process.env.BENCH_VMS ?? 20_000);
const TEAMS = Number(process.env.BENCH_TEAMS ?? 200);
const AUDIT_ROWS = Number(process.env.BENCH_AUDIT_ROWS ?? 200_000);

async function time<T>(fn: () => Promise<T>, runs = 5): Promise<{ ms: number; value: T }> {
  let value = await fn(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    value = await fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[Math.floor(samples.length / 2)] ?? 0, value };
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

const server = await startTestDatabaseServer();
const t = await createTestDatabase(server);
try {
  const db = t.db;
  const engine = await db.engine.create({
    data: { name: "bench", apiUrl: "https://bench/ovirt-engine/api", username: "u", secretSealed: "s" },
  });
  await db.$executeRaw`
    INSERT INTO vm (id, "engineId", "vmId", name, tags)
    SELECT gen_random_uuid()::text, ${engine.id}, gen_random_uuid()::text,
           'team' || (g % ${TEAMS}) || '-vm-' || g, ARRAY['tag-' || (g % ${TEAMS * 2})]
    FROM generate_series(1, ${VMS}) g`;
  await db.$executeRaw`
    INSERT INTO team (id, name, slug) SELECT 'team-' || g, 'Team ' || g, 'team-' || g FROM generate_series(0, ${TEAMS - 1}) g`;
  // Per team: one name pattern, one tag, and 20 explicit VMs.
  await db.$executeRaw`
    INSERT INTO team_vm_rule (id, "teamId", kind, pattern)
    SELECT gen_random_uuid()::text, 'team-' || g, 'name-pattern', 'team' || g || '-vm-*' FROM generate_series(0, ${TEAMS - 1}) g`;
  await db.$executeRaw`
    INSERT INTO team_vm_rule (id, "teamId", kind, tag)
    SELECT gen_random_uuid()::text, 'team-' || g, 'tag', 'tag-' || (g + ${TEAMS}) FROM generate_series(0, ${TEAMS - 1}) g`;
  await db.$executeRaw`
    INSERT INTO team_vm_rule (id, "teamId", kind, "engineId", "vmId")
    SELECT gen_random_uuid()::text, 'team-' || (row_number() OVER () % ${TEAMS}), 'vm', "engineId", "vmId"
    FROM (SELECT "engineId", "vmId" FROM vm ORDER BY random() LIMIT ${TEAMS * 20}) v`;
  await db.$executeRaw`ANALYZE`;

  await db.$executeRaw`CREATE TABLE bench_copy (id text)`;
  const baseline = await time(async () => {
    await db.$executeRaw`TRUNCATE bench_copy`;
    await db.$executeRaw`INSERT INTO bench_copy SELECT id FROM vm`;
  });
  await recomputeVmTeams(db);
  const owned = await db.vmTeam.count();
  const full = await time(() => recomputeVmTeams(db));
  const oneTeam = await time(() => recomputeVmTeams(db, { teamId: "team-7" }));
  // From scratch (every row inserted), as after a first inventory refresh.
  const fromScratch = await time(async () => {
    await db.$executeRaw`TRUNCATE vm_team`;
    return recomputeVmTeams(db);
  }, 3);

  console.log(`ownership: ${VMS} VMs, ${TEAMS} teams, ${TEAMS * 22} rules → ${owned} VM-team rows`);
  console.log(`  baseline (copy every VM id once)   ${fmt(baseline.ms)}`);
  console.log(`  recompute, nothing changed         ${fmt(full.ms)}  ×${(full.ms / baseline.ms).toFixed(1)}`);
  console.log(
    `  recompute from scratch             ${fmt(fromScratch.ms)}  ×${(fromScratch.ms / baseline.ms).toFixed(1)}`,
  );
  console.log(
    `  recompute one team                 ${fmt(oneTeam.ms)}  ×${(oneTeam.ms / baseline.ms).toFixed(1)}`,
  );

  await db.$executeRaw`
    INSERT INTO audit_event (id, at, action, outcome, "teamId", "actorName", "actorEmail", "targetType", "targetId", details, "searchText")
    SELECT gen_random_uuid()::text, now() - (g || ' seconds')::interval,
           (ARRAY['teams.addMember','approvals.approve','auth.sign-in','job.succeeded'])[1 + g % 4],
           CASE WHEN g % 17 = 0 THEN 'denied' ELSE 'success' END,
           'team-' || (g % ${TEAMS}), 'Person ' || (g % 500), 'person' || (g % 500) || '@example.com',
           'vm', 'vm-' || g, jsonb_build_object('note', 'event number ' || g),
           lower('teams.addmember person ' || (g % 500) || ' person' || (g % 500) || '@example.com vm-' || g || ' {"note":"event number ' || g || '"}')
    FROM generate_series(1, ${AUDIT_ROWS}) g`;
  await db.$executeRaw`ANALYZE audit_event`;
  const api = createTestApi(db, t.url);
  const root = await api.createUser({ email: "bench@lifeboat.test", role: "admin" });
  const teamAdmin = await api.createUser({ email: "bench-admin@lifeboat.test" });
  await db.membership.create({
    data: { id: randomUUID(), teamId: "team-3", userId: teamAdmin.id, role: "admin" },
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
  const site = await callerOf(root.email, root.password);
  const scoped = await callerOf(teamAdmin.email, teamAdmin.password);

  const newest = await time(() => site.audit.list({ limit: 50 }), 9);
  let cursor: string | null = null;
  for (let i = 0; i < 20; i++)
    cursor = (await site.audit.list({ limit: 500, cursor: cursor ?? undefined })).nextCursor;
  const deep = await time(() => site.audit.list({ limit: 50, cursor: cursor ?? undefined }), 9);
  const text = await time(() => site.audit.list({ limit: 50, q: "event number 123456" }), 9);
  const person = await time(() => site.audit.list({ limit: 50, actor: "person42@" }), 9);
  const team = await time(() => scoped.audit.list({ limit: 50 }), 9);
  console.log(`audit: ${AUDIT_ROWS} rows`);
  console.log(`  baseline (newest page, no filter)  ${fmt(newest.ms)}`);
  console.log(`  page 10 001-10 050 (keyset)        ${fmt(deep.ms)}  ×${(deep.ms / newest.ms).toFixed(1)}`);
  console.log(
    `  free text (trigram)                ${fmt(text.ms)}  ×${(text.ms / newest.ms).toFixed(1)} (${text.value.items.length} hits)`,
  );
  console.log(
    `  actor filter                       ${fmt(person.ms)}  ×${(person.ms / newest.ms).toFixed(1)}`,
  );
  console.log(`  team admin's scope (1 team)        ${fmt(team.ms)}  ×${(team.ms / newest.ms).toFixed(1)}`);
} finally {
  await t.drop();
  await server.teardown();
}
