import type { Db } from "@lifeboat/db";
import { Prisma } from "@lifeboat/db";
import { type EngineClient, EngineError } from "@lifeboat/ovirt-core";
import { z } from "zod";
import type { Actor, ServiceContext } from "./context";
import { engineAppError, withEngine } from "./engines";
import { AppError } from "./errors";
import { publishEvent } from "./events";
import { recomputeVmTeamsIn, vmInScopeSql } from "./vm-ownership";

/**
 * The VM inventory: every engine's VM list cached in `vm` (refreshed on demand and by the `inventory.refresh`
 * job), and the VM list users see with each VM's protection.
 */

/** A VM counts as protected when it has a complete restore point at most this many days old (or a policy). */
export const PROTECTION_WINDOW_DAYS = 7;

// The engine's VM list as inventory reads it (ref §1.2): lenient, extra fields pass, links may be missing.
const zCount = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const s = String(v).trim();
  if (/^\d+$/.test(s)) return BigInt(s);
  ctx.addIssue({ code: "custom", message: `not an integer: ${JSON.stringify(v)}` });
  return z.NEVER;
});
const zInventoryVm = z.object({
  id: z.string().min(1).max(100),
  name: z.string().max(255),
  status: z.string().max(50).optional(),
  memory: zCount.optional(),
  os: z.object({ type: z.string().max(100).optional() }).optional(),
  cluster: z.object({ id: z.string().optional(), name: z.string().optional() }).optional(),
  disk_attachments: z.object({ disk_attachment: z.array(z.unknown()).optional() }).optional(),
  tags: z.object({ tag: z.array(z.object({ name: z.string().max(100).optional() })).optional() }).optional(),
});
const zVmList = z.object({ vm: z.array(zInventoryVm).optional() });
type InventoryVm = z.output<typeof zInventoryVm>;

interface EngineVmList {
  vms: InventoryVm[];
  /** The engine inlined the tags (an engine that refuses `follow=tags` keeps the VMs' known tags). */
  withTags: boolean;
  /** The engine inlined the disk attachments. */
  withDisks: boolean;
}

/** GET /vms with the links inventory needs inlined; older engines that refuse a `follow` get fewer. */
async function listEngineVms(engine: EngineClient, signal?: AbortSignal): Promise<EngineVmList> {
  const tries: Array<{ follow?: string; withTags: boolean; withDisks: boolean }> = [
    { follow: "disk_attachments,tags", withTags: true, withDisks: true },
    { follow: "disk_attachments", withTags: false, withDisks: true },
    { withTags: false, withDisks: false },
  ];
  for (const [i, t] of tries.entries()) {
    try {
      const list = await engine.get("/vms", zVmList, {
        query: t.follow ? { follow: t.follow } : {},
        signal,
      });
      return { vms: list.vm ?? [], withTags: t.withTags, withDisks: t.withDisks };
    } catch (e) {
      // 400 "Cannot follow link": try with less; anything else is the engine's real answer.
      if (!(e instanceof EngineError && e.status === 400) || i === tries.length - 1) throw e;
    }
  }
  throw new Error("unreachable");
}

/** Someone waits for the answer: give up on an unreachable engine in seconds, not after the jobs' long retries. */
const INTERACTIVE = { retry: { attempts: 2, baseDelayMs: 500 }, connectTimeoutMs: 10_000 };

export interface InventoryRefreshResult {
  engineId: string;
  engineName: string;
  /** VMs the engine listed. */
  seen: number;
  /** VMs new to the catalog. */
  added: number;
  /** VMs the engine no longer lists (marked gone). */
  gone: number;
}

/**
 * Reads one engine's VM list (name, status, OS, cluster, memory, tags, disk count) into the catalog: new VMs are
 * added, known ones updated, VMs the engine no longer lists get `goneAt` (their restore points keep their owner).
 * Team ownership of the engine's VMs is derived again in the same transaction. The engine's `inventoryAt` / `lastError` record
 * the outcome; a failure is an AppError in the engine's words.
 */
export async function refreshInventory(
  db: Db,
  engineId: string,
  opts: { encryptionKey: Buffer | null; signal?: AbortSignal; interactive?: boolean },
): Promise<InventoryRefreshResult> {
  const row = await db.engine.findUnique({ where: { id: engineId } });
  if (!row) throw new AppError("NOT_FOUND", "No such engine.");
  let list: EngineVmList;
  let clusters: Map<string, string>;
  try {
    ({ list, clusters } = await withEngine(
      db,
      engineId,
      async ({ engine }) => {
        const vms = await listEngineVms(engine, opts.signal);
        const cl = await engine.clusters.list({ signal: opts.signal });
        return { list: vms, clusters: new Map(cl.map((c) => [c.id, c.name])) };
      },
      { encryptionKey: opts.encryptionKey, ...(opts.interactive ? INTERACTIVE : {}) },
    ));
  } catch (e) {
    const err = engineAppError(e, row.name);
    const message = err instanceof Error ? err.message : String(err);
    await db.engine.update({
      where: { id: engineId },
      data: { lastCheckAt: new Date(), lastError: message.slice(0, 2000) },
    });
    throw err;
  }
  const records = list.vms.map((v) => ({
    vmId: v.id,
    name: v.name,
    status: v.status?.toLowerCase() ?? null,
    osType: v.os?.type ?? null,
    clusterName: v.cluster?.name ?? (v.cluster?.id ? (clusters.get(v.cluster.id) ?? null) : null),
    memoryBytes: v.memory !== undefined ? v.memory.toString() : null,
    diskCount: list.withDisks ? (v.disk_attachments?.disk_attachment?.length ?? 0) : null,
    tags: list.withTags
      ? [...new Set((v.tags?.tag ?? []).map((t) => t.name).filter((n): n is string => !!n))].sort()
      : null,
  }));
  const now = new Date();
  const counts = await db.$transaction(
    async (tx) => {
      // One statement for the whole list: the engine may list thousands of VMs.
      const upserted = await tx.$queryRaw<Array<{ inserted: boolean }>>`
        INSERT INTO vm (id, "engineId", "vmId", name, status, "osType", "clusterName", "memoryBytes", "diskCount",
                        tags, "lastSeenAt", "goneAt")
        SELECT gen_random_uuid()::text, ${engineId}, x."vmId", x.name, x.status, x."osType", x."clusterName",
               x."memoryBytes"::bigint, COALESCE(x."diskCount", 0),
               COALESCE(ARRAY(SELECT jsonb_array_elements_text(x.tags)), ARRAY[]::text[]), ${now}, NULL
        FROM jsonb_to_recordset(${JSON.stringify(records)}::jsonb) AS x(
          "vmId" text, name text, status text, "osType" text, "clusterName" text, "memoryBytes" text,
          "diskCount" int, tags jsonb)
        ON CONFLICT ("engineId", "vmId") DO UPDATE SET
          name = EXCLUDED.name, status = EXCLUDED.status, "osType" = EXCLUDED."osType",
          "clusterName" = EXCLUDED."clusterName", "memoryBytes" = EXCLUDED."memoryBytes",
          "diskCount" = CASE WHEN ${list.withDisks} THEN EXCLUDED."diskCount" ELSE vm."diskCount" END,
          tags = CASE WHEN ${list.withTags} THEN EXCLUDED.tags ELSE vm.tags END,
          "lastSeenAt" = EXCLUDED."lastSeenAt", "goneAt" = NULL
        RETURNING (xmax = 0) AS inserted`;
      const gone = await tx.vm.updateMany({
        where: { engineId, goneAt: null, vmId: { notIn: records.map((r) => r.vmId) } },
        data: { goneAt: now },
      });
      // Ownership in the same transaction: nobody sees a new VM before the teams whose rules match it.
      await recomputeVmTeamsIn(tx, { engineId });
      await tx.engine.update({
        where: { id: engineId },
        data: { inventoryAt: now, lastCheckAt: now, lastError: null },
      });
      return { added: upserted.filter((u) => u.inserted).length, gone: gone.count };
    },
    { timeout: 300_000, maxWait: 30_000 },
  );
  await publishEvent(db, { kind: "inventory", id: engineId });
  return { engineId, engineName: row.name, seen: records.length, ...counts };
}

/**
 * Refreshes every enabled engine (one after the other). A failing engine does not stop the others: its error is
 * in its result and on its row.
 */
export async function refreshAllInventories(
  db: Db,
  opts: { encryptionKey: Buffer | null; signal?: AbortSignal; engineIds?: string[]; interactive?: boolean },
): Promise<Array<InventoryRefreshResult | { engineId: string; engineName: string; error: string }>> {
  const engines = await db.engine.findMany({
    where: { enabled: true, ...(opts.engineIds ? { id: { in: opts.engineIds } } : {}) },
    orderBy: { name: "asc" },
    select: { id: true, name: true },
  });
  const out: Array<InventoryRefreshResult | { engineId: string; engineName: string; error: string }> = [];
  for (const e of engines) {
    if (opts.signal?.aborted) break;
    try {
      out.push(await refreshInventory(db, e.id, opts));
    } catch (err) {
      out.push({
        engineId: e.id,
        engineName: e.name,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return out;
}

export const inventoryRefreshRequest = z.object({ engineId: z.string().max(100).optional() }).default({});
export type InventoryRefreshRequest = z.infer<typeof inventoryRefreshRequest>;

export const inventoryRefreshed = z.object({
  engines: z.array(
    z.object({
      engineId: z.string(),
      engineName: z.string(),
      seen: z.number().optional(),
      added: z.number().optional(),
      gone: z.number().optional(),
      /** The engine's own words when it could not be read. */
      error: z.string().optional(),
    }),
  ),
});

/** An engine read (or tried) less than this long ago is not asked again (a page full of impatient users). */
const MIN_REFRESH_INTERVAL_MS = 15_000;

/**
 * Reads the VM lists of the engines again now (one engine, or all enabled ones), for any VM reader; engines
 * refreshed in the last seconds are skipped (listed without counts).
 */
export async function refreshInventoriesNow(
  ctx: ServiceContext,
  input: InventoryRefreshRequest,
): Promise<z.infer<typeof inventoryRefreshed>> {
  const engines = await ctx.db.engine.findMany({
    where: { enabled: true, ...(input.engineId ? { id: input.engineId } : {}) },
    select: { id: true, name: true, lastCheckAt: true },
  });
  if (input.engineId && engines.length === 0)
    throw new AppError("NOT_FOUND", "No such engine, or it is disabled in Lifeboat's settings.");
  const now = Date.now();
  const due = engines.filter(
    (e) => !e.lastCheckAt || now - e.lastCheckAt.getTime() >= MIN_REFRESH_INTERVAL_MS,
  );
  const results = await refreshAllInventories(ctx.db, {
    encryptionKey: ctx.config.encryptionKey,
    engineIds: due.map((e) => e.id),
    interactive: true,
  });
  ctx.audit.targetType = "engine";
  ctx.audit.details = { engines: results.map((r) => r.engineName) };
  const skipped = engines
    .filter((e) => !due.includes(e))
    .map((e) => ({ engineId: e.id, engineName: e.name }));
  return { engines: [...results, ...skipped] };
}

// ---------------------------------------------------------------- protection

/**
 * SQL: the VM `v` (a catalog vm row alias) has a complete restore point within the protection window, or an
 * enabled policy covers it (explicitly, or through its team's VMs).
 */
export function protectedSql(v: Prisma.Sql, now: Date = new Date()): Prisma.Sql {
  const since = new Date(now.getTime() - PROTECTION_WINDOW_DAYS * 24 * 3600_000);
  return Prisma.sql`(${recentPointSql(v, since)} OR ${policyCoversSql(v)})`;
}

function recentPointSql(v: Prisma.Sql, since: Date): Prisma.Sql {
  return Prisma.sql`EXISTS (SELECT 1 FROM restore_point rp WHERE rp."vmId" = ${v}.id AND rp.state = 'complete'
    AND rp."createdAt" >= ${since})`;
}

function policyCoversSql(v: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`(EXISTS (SELECT 1 FROM policy_vm pv JOIN policy p ON p.id = pv."policyId"
      WHERE pv."vmId" = ${v}.id AND p.enabled)
    OR EXISTS (SELECT 1 FROM policy p JOIN vm_team vt ON vt."teamId" = p."teamId"
      WHERE vt."vmId" = ${v}.id AND p.enabled AND p."includeTeamVms"))`;
}

/** Protected vs unprotected VMs (present on their engine) in the actor's scope. */
export async function protectionCounts(
  db: Db,
  actor: Actor,
): Promise<{ protected: number; unprotected: number; neverBackedUp: number }> {
  const v = Prisma.raw("v");
  const [row] = await db.$queryRaw<Array<{ prot: number; unprot: number; never: number }>>`
    SELECT count(*) FILTER (WHERE p)::int AS prot, count(*) FILTER (WHERE NOT p)::int AS unprot,
           count(*) FILTER (WHERE NOT has_point)::int AS never
    FROM (
      SELECT ${protectedSql(v)} AS p,
             EXISTS (SELECT 1 FROM restore_point r WHERE r."vmId" = v.id AND r.state = 'complete') AS has_point
      FROM vm v WHERE v."goneAt" IS NULL AND ${vmInScopeSql(actor, Prisma.raw("v.id"))}
    ) s`;
  return { protected: row?.prot ?? 0, unprotected: row?.unprot ?? 0, neverBackedUp: row?.never ?? 0 };
}

// ---------------------------------------------------------------- the VM list

export const vmListFilters = z.object({
  /** Part of the VM name (case-insensitive). */
  q: z.string().trim().max(200).optional(),
  engineId: z.string().max(100).optional(),
  protection: z.enum(["protected", "unprotected"]).optional(),
  /** An oVirt tag of the VM (exact). */
  tag: z.string().max(100).optional(),
  /** Also VMs the engine no longer lists. */
  includeGone: z.boolean().default(false),
  /** Only VMs this team owns. */
  teamId: z.string().max(100).optional(),
});
export type VmListFilters = z.infer<typeof vmListFilters>;

export const vmListItem = z.object({
  id: z.string(),
  engineId: z.string(),
  engineName: z.string(),
  engineEnabled: z.boolean(),
  /** The oVirt VM id. */
  vmId: z.string(),
  name: z.string(),
  status: z.string().nullable(),
  osType: z.string().nullable(),
  clusterName: z.string().nullable(),
  tags: z.array(z.string()),
  diskCount: z.number(),
  memoryBytes: z.number().nullable(),
  lastSeenAt: z.date(),
  goneAt: z.date().nullable(),
  protection: z.object({
    protected: z.boolean(),
    /** The newest complete restore point is within the protection window. */
    recentBackup: z.boolean(),
    /** Names of the enabled policies (of the caller's teams) that cover the VM. */
    policies: z.array(z.string()),
    /** Any enabled policy covers it (also of a team the caller is not in). */
    coveredByPolicy: z.boolean(),
  }),
  lastRestorePoint: z
    .object({ id: z.string(), createdAt: z.date(), verifyState: z.string(), logicalBytes: z.number() })
    .nullable(),
  restorePointCount: z.number(),
  /** The backup queued or running now, if any. */
  activeBackup: z.object({ jobId: z.string(), state: z.string() }).nullable(),
});
export type VmListItem = z.infer<typeof vmListItem>;

interface VmRow {
  id: string;
  engineId: string;
  engineName: string;
  engineEnabled: boolean;
  vmId: string;
  name: string;
  status: string | null;
  osType: string | null;
  clusterName: string | null;
  tags: string[] | null;
  diskCount: number;
  memoryBytes: bigint | null;
  lastSeenAt: Date;
  goneAt: Date | null;
  recent: boolean;
  covered: boolean;
  policyNames: string[] | null;
  lastId: string | null;
  lastAt: Date | null;
  lastVerify: string | null;
  lastBytes: bigint | null;
  pointCount: number;
  activeJobId: string | null;
  activeJobState: string | null;
}

const vmCursor = z.tuple([z.string(), z.string()]);

function decodeVmCursor(cursor: string): [string, string] {
  try {
    return vmCursor.parse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
  } catch {
    throw new AppError("BAD_REQUEST", "This page link is no longer valid: load the VM list again.");
  }
}

function encodeVmCursor(row: { name: string; id: string }): string {
  return Buffer.from(JSON.stringify([row.name, row.id])).toString("base64url");
}

/**
 * VMs in the actor's scope, by name (keyset pagination on name, id), with protection, the newest complete
 * restore point and the active backup of each.
 */
export async function listVms(
  db: Db,
  actor: Actor,
  filters: VmListFilters,
  page: { cursor?: string; limit: number; id?: string },
): Promise<{ items: VmListItem[]; nextCursor: string | null }> {
  const v = Prisma.raw("v");
  const now = new Date();
  const since = new Date(now.getTime() - PROTECTION_WINDOW_DAYS * 24 * 3600_000);
  const conds: Prisma.Sql[] = [vmInScopeSql(actor, Prisma.raw("v.id"))];
  if (page.id) conds.push(Prisma.sql`v.id = ${page.id}`);
  if (!filters.includeGone) conds.push(Prisma.sql`v."goneAt" IS NULL`);
  if (filters.q) conds.push(Prisma.sql`v.name ILIKE ${`%${likeEscape(filters.q)}%`}`);
  if (filters.engineId) conds.push(Prisma.sql`v."engineId" = ${filters.engineId}`);
  if (filters.tag) conds.push(Prisma.sql`v.tags @> ARRAY[${filters.tag}]::text[]`);
  if (filters.teamId)
    conds.push(Prisma.sql`v.id IN (SELECT "vmId" FROM vm_team WHERE "teamId" = ${filters.teamId})`);
  if (filters.protection === "protected") conds.push(protectedSql(v, now));
  if (filters.protection === "unprotected") conds.push(Prisma.sql`NOT ${protectedSql(v, now)}`);
  if (page.cursor) {
    const [name, id] = decodeVmCursor(page.cursor);
    conds.push(Prisma.sql`(v.name, v.id) > (${name}, ${id})`);
  }
  const policyTeams = actor.siteAdmin
    ? Prisma.sql`TRUE`
    : actor.teamIds.length === 0
      ? Prisma.sql`FALSE`
      : Prisma.sql`p."teamId" IN (${Prisma.join(actor.teamIds)})`;
  const rows = await db.$queryRaw<VmRow[]>`
    WITH page AS (
      SELECT v.* FROM vm v WHERE ${Prisma.join(conds, " AND ")}
      ORDER BY v.name, v.id LIMIT ${page.limit + 1}
    )
    SELECT v.id, v."engineId", e.name AS "engineName", e.enabled AS "engineEnabled", v."vmId", v.name, v.status,
      v."osType", v."clusterName", v.tags, v."diskCount", v."memoryBytes", v."lastSeenAt", v."goneAt",
      ${recentPointSql(v, since)} AS recent,
      ${policyCoversSql(v)} AS covered,
      (SELECT array_agg(DISTINCT p.name ORDER BY p.name) FROM policy p
        WHERE p.enabled AND ${policyTeams}
          AND (EXISTS (SELECT 1 FROM policy_vm pv WHERE pv."policyId" = p.id AND pv."vmId" = v.id)
            OR (p."includeTeamVms" AND EXISTS (SELECT 1 FROM vm_team vt WHERE vt."teamId" = p."teamId" AND vt."vmId" = v.id)))
      ) AS "policyNames",
      lr.id AS "lastId", lr."createdAt" AS "lastAt", lr."verifyState" AS "lastVerify", lr."logicalBytes" AS "lastBytes",
      (SELECT count(*) FROM restore_point r WHERE r."vmId" = v.id AND r.state = 'complete')::int AS "pointCount",
      aj.id AS "activeJobId", aj.state AS "activeJobState"
    FROM page v
    JOIN engine e ON e.id = v."engineId"
    LEFT JOIN LATERAL (
      SELECT r.id, r."createdAt", r."verifyState", r."logicalBytes" FROM restore_point r
      WHERE r."vmId" = v.id AND r.state = 'complete' ORDER BY r."createdAt" DESC, r.id DESC LIMIT 1
    ) lr ON TRUE
    LEFT JOIN LATERAL (
      SELECT j.id, j.state FROM job j
      WHERE j."vmId" = v.id AND j.type = 'backup.vm' AND j.state IN ('queued', 'running')
      ORDER BY j."createdAt" DESC LIMIT 1
    ) aj ON TRUE
    ORDER BY v.name, v.id`;
  const items = rows.slice(0, page.limit).map(toVmListItem);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > page.limit && last ? encodeVmCursor(last) : null };
}

function toVmListItem(r: VmRow): VmListItem {
  return {
    id: r.id,
    engineId: r.engineId,
    engineName: r.engineName,
    engineEnabled: r.engineEnabled,
    vmId: r.vmId,
    name: r.name,
    status: r.status,
    osType: r.osType,
    clusterName: r.clusterName,
    tags: r.tags ?? [],
    diskCount: r.diskCount,
    memoryBytes: r.memoryBytes === null ? null : Number(r.memoryBytes),
    lastSeenAt: r.lastSeenAt,
    goneAt: r.goneAt,
    protection: {
      protected: r.recent || r.covered,
      recentBackup: r.recent,
      policies: r.policyNames ?? [],
      coveredByPolicy: r.covered,
    },
    lastRestorePoint:
      r.lastId && r.lastAt
        ? {
            id: r.lastId,
            createdAt: r.lastAt,
            verifyState: r.lastVerify ?? "unverified",
            logicalBytes: Number(r.lastBytes ?? 0n),
          }
        : null,
    restorePointCount: r.pointCount,
    activeBackup: r.activeJobId ? { jobId: r.activeJobId, state: r.activeJobState ?? "queued" } : null,
  };
}

/** One VM of the actor's scope (NOT_FOUND otherwise), as the list shows it. */
export async function getVm(db: Db, actor: Actor, id: string): Promise<VmListItem> {
  // The list query for this one row: one code path for what a VM row shows.
  const { items } = await listVms(db, actor, { includeGone: true }, { limit: 1, id });
  const vm = items[0];
  if (!vm) throw new AppError("NOT_FOUND", "No such VM (or it belongs to another team).");
  return vm;
}

/** Escapes LIKE's wildcards so that user text matches literally. */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
