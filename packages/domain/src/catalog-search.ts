import { type Db, Prisma } from "@lifeboat/db";
import { z } from "zod";
import type { Actor } from "./context";
import { AppError } from "./errors";
import { likeEscape } from "./inventory";
import { vmInScopeSql, vmWhere } from "./vm-ownership";

/**
 * The restore-point catalog search: one text box over `searchText` (VM name, disk aliases, description, tags,
 * OVF facts; pg_trgm GIN index restore_point_search_trgm), filters, sorting and keyset pagination with an opaque
 * cursor. No OFFSET: a page after the cursor costs the same wherever it is, and rows inserted meanwhile never
 * shift or repeat the rows already shown.
 */

export const CATALOG_SORTS = ["newest", "oldest", "vm", "largest", "smallest"] as const;
export type CatalogSort = (typeof CATALOG_SORTS)[number];

export const RESTORE_POINT_STATES = ["pending", "complete", "failed", "deleting"] as const;
export const VERIFY_STATES = ["unverified", "ok", "failed"] as const;
/** How a restore point was taken (`restore_point.backupMode`). */
export const BACKUP_MODES = ["full", "incremental", "snapshot-chain"] as const;

export const catalogFilters = z.object({
  /** Words that must all appear (any order) in VM name, disk alias, description, tags or OVF facts. */
  q: z.string().trim().max(200).optional(),
  /** The catalog VM (`vm.id`). */
  vmId: z.string().max(100).optional(),
  /** A disk: its oVirt disk id or its alias (exact, case-insensitive). */
  disk: z.string().trim().max(255).optional(),
  engineId: z.string().max(100).optional(),
  /** Created at or after. */
  from: z.date().optional(),
  /** Created before. */
  to: z.date().optional(),
  state: z.array(z.enum(RESTORE_POINT_STATES)).max(4).optional(),
  /** A backup tag (exact). */
  tag: z.string().trim().max(100).optional(),
  verifyState: z.array(z.enum(VERIFY_STATES)).max(3).optional(),
  /** How the points were taken: full or incremental (engine backup API), snapshot-chain. */
  mode: z.array(z.enum(BACKUP_MODES)).max(3).optional(),
  /** Only VMs this team owns. */
  teamId: z.string().max(100).optional(),
});
export type CatalogFilters = z.infer<typeof catalogFilters>;

export const catalogItem = z.object({
  id: z.string(),
  vmId: z.string(),
  vmName: z.string(),
  engineId: z.string(),
  engineName: z.string(),
  createdAt: z.date(),
  kind: z.string(),
  /** full | incremental (engine backup API) | snapshot-chain. */
  backupMode: z.string(),
  /** The engine checkpoint the point ends at (backup API), where the next incremental starts. */
  checkpointId: z.string().nullable(),
  state: z.string(),
  /** Bytes read from the engine for this backup. */
  transferredBytes: z.number(),
  /** Bytes the engine reported changed, over the disks (null: a snapshot-chain point, which does not count them). */
  changedBytes: z.number().nullable(),
  /** Sum of the disks' virtual sizes. */
  virtualBytes: z.number(),
  /** Bytes of all layers (what a full copy would take). */
  logicalBytes: z.number(),
  /** What this backup added to the repository. */
  newStoredBytes: z.number(),
  diskCount: z.number(),
  layerCount: z.number(),
  /** Layers taken over unchanged from an earlier restore point. */
  reusedLayerCount: z.number(),
  verifyState: z.string(),
  verifiedAt: z.date().nullable(),
  description: z.string(),
  tags: z.array(z.string()),
  pinned: z.boolean(),
  osType: z.string().nullable(),
  policyId: z.string().nullable(),
  jobId: z.string().nullable(),
});
export type CatalogItem = z.infer<typeof catalogItem>;

/** How many words of a query are used (each one an indexed condition). */
const MAX_TERMS = 8;

// ---------------------------------------------------------------- cursor

/**
 * The cursor: the sort and the last row's sort key, base64url JSON. It reveals nothing the row did not show, and
 * anything that does not decode to the same sort is refused (400) rather than guessed at.
 */
const cursorShape = z.discriminatedUnion("s", [
  z.object({ s: z.enum(["newest", "oldest"]), c: z.string().datetime(), i: z.string().max(100) }),
  z.object({ s: z.literal("vm"), n: z.string().max(300), c: z.string().datetime(), i: z.string().max(100) }),
  z.object({ s: z.enum(["largest", "smallest"]), b: z.string().regex(/^\d{1,20}$/), i: z.string().max(100) }),
]);
type Cursor = z.infer<typeof cursorShape>;

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c), "utf8").toString("base64url");
}

export function decodeCursor(raw: string, sort: CatalogSort): Cursor {
  let parsed: Cursor;
  try {
    if (!/^[A-Za-z0-9_-]{1,700}$/.test(raw)) throw new Error("not base64url");
    parsed = cursorShape.parse(JSON.parse(Buffer.from(raw, "base64url").toString("utf8")));
  } catch {
    throw new AppError("BAD_REQUEST", "This page link is not valid (any more): start the search again.");
  }
  if (parsed.s !== sort)
    throw new AppError(
      "BAD_REQUEST",
      "This page link belongs to another sort order: start the search again.",
    );
  return parsed;
}

function cursorOf(row: PageRow, sort: CatalogSort): Cursor {
  const c = row.createdAt.toISOString();
  switch (sort) {
    case "newest":
    case "oldest":
      return { s: sort, c, i: row.id };
    case "vm":
      return { s: "vm", n: row.vmName, c, i: row.id };
    case "largest":
    case "smallest":
      return { s: sort, b: row.logicalBytes.toString(), i: row.id };
  }
}

// ---------------------------------------------------------------- SQL

/** The words of a query, lower case (searchText is lower case), wildcards escaped, duplicates dropped. */
export function queryTerms(q: string | undefined): string[] {
  if (!q) return [];
  return [...new Set(q.toLowerCase().split(/\s+/).filter(Boolean))].slice(0, MAX_TERMS);
}

/**
 * WHERE conditions of the filters (without the cursor), scoped to the actor: `text` (the words) and `other`
 * (scope and filters) apart, because the search strategies place them differently. `scopeVmIds`: the actor's VMs
 * as an explicit list — the planner can then intersect the trigram bitmap with the VM index.
 */
export function filterConditions(
  actor: Actor,
  f: CatalogFilters,
  scopeVmIds?: string[],
): { text: Prisma.Sql[]; other: Prisma.Sql[] } {
  const other: Prisma.Sql[] = [
    scopeVmIds && !actor.siteAdmin
      ? scopeVmIds.length
        ? Prisma.sql`rp."vmId" = ANY(${scopeVmIds}::text[])`
        : Prisma.sql`FALSE`
      : vmInScopeSql(actor, Prisma.raw('rp."vmId"')),
  ];
  // LIKE (not ILIKE) on the lower-case column: the trigram index answers both; the words are lowered here.
  const text = queryTerms(f.q).map((term) => Prisma.sql`rp."searchText" LIKE ${`%${likeEscape(term)}%`}`);
  if (f.vmId) other.push(Prisma.sql`rp."vmId" = ${f.vmId}`);
  if (f.engineId) other.push(Prisma.sql`rp."engineId" = ${f.engineId}`);
  if (f.from) other.push(Prisma.sql`rp."createdAt" >= ${f.from}`);
  if (f.to) other.push(Prisma.sql`rp."createdAt" < ${f.to}`);
  if (f.state?.length) other.push(Prisma.sql`rp.state IN (${Prisma.join(f.state)})`);
  if (f.verifyState?.length) other.push(Prisma.sql`rp."verifyState" IN (${Prisma.join(f.verifyState)})`);
  if (f.mode?.length) other.push(Prisma.sql`rp."backupMode" IN (${Prisma.join(f.mode)})`);
  if (f.tag) other.push(Prisma.sql`rp.tags @> ARRAY[${f.tag}]::text[]`);
  if (f.disk)
    other.push(Prisma.sql`EXISTS (SELECT 1 FROM restore_point_disk d WHERE d."restorePointId" = rp.id
      AND (d."diskId" = ${f.disk} OR lower(d.alias) = lower(${f.disk})))`);
  if (f.teamId)
    other.push(Prisma.sql`rp."vmId" IN (SELECT "vmId" FROM vm_team WHERE "teamId" = ${f.teamId})`);
  return { text, other };
}

/**
 * ORDER BY and the condition "after the cursor" per sort. The tie-breaker (id) runs ascending with every sort
 * so that the b-tree indexes (createdAt DESC, id), (vmName, createdAt DESC, id) and (logicalBytes DESC, id)
 * serve the order forwards or backwards, and the cursor condition starts with an indexable bound on the sort
 * key (`<=` / `>=`) — so a deep page starts where the last one ended instead of re-reading the rows before it.
 */
function orderAndAfter(
  sort: CatalogSort,
  cursor: Cursor | undefined,
): { order: Prisma.Sql; after?: Prisma.Sql } {
  switch (sort) {
    case "newest":
    case "oldest": {
      const desc = sort === "newest";
      const order = desc
        ? Prisma.sql`rp."createdAt" DESC, rp.id ASC`
        : Prisma.sql`rp."createdAt" ASC, rp.id DESC`;
      if (cursor?.s !== sort || !("c" in cursor)) return { order };
      const c = new Date(cursor.c);
      return {
        order,
        after: desc
          ? Prisma.sql`rp."createdAt" <= ${c} AND (rp."createdAt" < ${c} OR rp.id > ${cursor.i})`
          : Prisma.sql`rp."createdAt" >= ${c} AND (rp."createdAt" > ${c} OR rp.id < ${cursor.i})`,
      };
    }
    case "vm": {
      const order = Prisma.sql`rp."vmName" ASC, rp."createdAt" DESC, rp.id ASC`;
      if (cursor?.s !== "vm") return { order };
      const c = new Date(cursor.c);
      return {
        order,
        after: Prisma.sql`rp."vmName" >= ${cursor.n} AND (rp."vmName" > ${cursor.n}
          OR rp."createdAt" < ${c} OR (rp."createdAt" = ${c} AND rp.id > ${cursor.i}))`,
      };
    }
    case "largest":
    case "smallest": {
      const desc = sort === "largest";
      const order = desc
        ? Prisma.sql`rp."logicalBytes" DESC, rp.id ASC`
        : Prisma.sql`rp."logicalBytes" ASC, rp.id DESC`;
      if (cursor?.s !== sort || !("b" in cursor)) return { order };
      const b = BigInt(cursor.b);
      return {
        order,
        after: desc
          ? Prisma.sql`rp."logicalBytes" <= ${b} AND (rp."logicalBytes" < ${b} OR rp.id > ${cursor.i})`
          : Prisma.sql`rp."logicalBytes" >= ${b} AND (rp."logicalBytes" > ${b} OR rp.id < ${cursor.i})`,
      };
    }
  }
}

interface PageRow {
  /** Null in the one row a walk returns when nothing matched. */
  id: string;
  scanned: number | null;
  vmId: string;
  vmName: string;
  engineId: string;
  engineName: string | null;
  createdAt: Date;
  kind: string;
  backupMode: string;
  toCheckpointId: string | null;
  state: string;
  transferredBytes: bigint;
  changedBytes: bigint | null;
  virtualBytes: bigint;
  logicalBytes: bigint;
  newStoredBytes: bigint;
  verifyState: string;
  verifiedAt: Date | null;
  description: string;
  tags: string[] | null;
  pinned: boolean;
  osType: string | null;
  policyId: string | null;
  jobId: string | null;
  diskCount: number;
  layerCount: number;
  reusedLayerCount: number;
}

/**
 * How a page is found.
 * - `plain`: one ordered, limited query; the planner picks (no words: filters only).
 * - `walk`: the next WALK_BUDGET rows of the whole catalog in sort order (an index walk: bounded work), then the
 *   scope, filters and words among them. It answers common words at once — their matches are everywhere, so the
 *   first rows hold a page — and, since the rows are a prefix of the order, what it finds is exactly the page.
 * - `index`: every row matching the words, scope and filters, found through the indexes (trigram bitmap,
 *   intersected with the VM index for a team's scope and with the filters' indexes), then sorted — bounded by
 *   the matches: rare words, and words common elsewhere but rare in the caller's scope or filters. The planner
 *   alone would walk the sort order for those and might read the whole catalog: it cannot know that the words
 *   and the scope exclude each other.
 * The search walks first and takes the indexes only when the walk found less than a page.
 */
export type CatalogStrategy = "plain" | "walk" | "index";

/** Rows a walk reads before the indexes take over. */
export const WALK_BUDGET = 4000;

const PAGE_COLUMNS =
  Prisma.raw(`rp.id, rp."vmId", rp."vmName", rp."engineId", rp."createdAt", rp.kind, rp."backupMode",
  rp."toCheckpointId", rp.state, rp."transferredBytes", rp."virtualBytes", rp."logicalBytes", rp."newStoredBytes", rp."verifyState", rp."verifiedAt", rp.description,
  rp.tags, rp.pinned, rp."osType", rp."policyId", rp."jobId"`);

/** The SQL of one page (exported for EXPLAIN in tests and the benchmark). */
export function catalogPageSql(
  actor: Actor,
  filters: CatalogFilters,
  opts: {
    sort: CatalogSort;
    cursor?: string;
    limit: number;
    strategy?: CatalogStrategy;
    scopeVmIds?: string[];
  },
): Prisma.Sql {
  const cursor = opts.cursor ? decodeCursor(opts.cursor, opts.sort) : undefined;
  const { text, other } = filterConditions(actor, filters, opts.scopeVmIds);
  const { order, after } = orderAndAfter(opts.sort, cursor);
  const strategy = opts.strategy ?? "plain";
  const all = [...other, ...text, ...(after ? [after] : [])];
  // The page first (the only part that touches many rows), then the per-row details for those rows only.
  const page =
    strategy === "walk"
      ? Prisma.sql`recent AS MATERIALIZED (
          SELECT ${PAGE_COLUMNS}, rp."searchText" FROM restore_point rp
          WHERE ${after ?? Prisma.sql`TRUE`} ORDER BY ${order} LIMIT ${WALK_BUDGET}
        ),
        page AS (
          SELECT ${PAGE_COLUMNS} FROM recent rp
          WHERE ${Prisma.join([...other, ...text], " AND ")} ORDER BY ${order} LIMIT ${opts.limit + 1}
        )`
      : strategy === "index"
        ? Prisma.sql`matches AS MATERIALIZED (
            SELECT ${PAGE_COLUMNS} FROM restore_point rp WHERE ${Prisma.join(all, " AND ")}
          ),
          page AS (SELECT * FROM matches rp ORDER BY ${order} LIMIT ${opts.limit + 1})`
        : Prisma.sql`page AS (
            SELECT ${PAGE_COLUMNS} FROM restore_point rp WHERE ${Prisma.join(all, " AND ")}
            ORDER BY ${order} LIMIT ${opts.limit + 1}
          )`;
  // A walk also says how many rows it read (one row even when nothing matched), to tell "no more" from "not here".
  const scanned =
    strategy === "walk" ? Prisma.sql`(SELECT count(*) FROM recent)::int` : Prisma.sql`NULL::int`;
  return Prisma.sql`
    WITH ${page}
    SELECT rp.*, e.name AS "engineName", ${scanned} AS scanned,
      (SELECT count(*) FROM restore_point_disk d WHERE d."restorePointId" = rp.id)::int AS "diskCount",
      (SELECT sum(d."changedBytes") FROM restore_point_disk d WHERE d."restorePointId" = rp.id)::bigint
        AS "changedBytes",
      (SELECT count(*) FROM layer l JOIN restore_point_disk d ON d.id = l."restorePointDiskId"
        WHERE d."restorePointId" = rp.id)::int AS "layerCount",
      (SELECT count(*) FROM layer l JOIN restore_point_disk d ON d.id = l."restorePointDiskId"
        WHERE d."restorePointId" = rp.id AND l.reused)::int AS "reusedLayerCount"
    FROM (SELECT 1) one
    LEFT JOIN page rp ON TRUE
    LEFT JOIN engine e ON e.id = rp."engineId"
    ORDER BY ${order}`;
}

/** Beyond this many VMs in a caller's scope, the scope stays a subquery instead of an explicit list. */
const MAX_SCOPE_LIST = 10_000;

async function scopeVmIds(db: Db, actor: Actor): Promise<string[] | undefined> {
  if (actor.siteAdmin) return undefined;
  if (actor.teamIds.length === 0) return [];
  const rows = await db.$queryRaw<Array<{ vmId: string }>>`
    SELECT DISTINCT "vmId" FROM vm_team WHERE "teamId" IN (${Prisma.join(actor.teamIds)}) LIMIT ${MAX_SCOPE_LIST + 1}`;
  return rows.length > MAX_SCOPE_LIST ? undefined : rows.map((r) => r.vmId);
}

/** One page of the catalog for the actor: at most `limit` rows and the cursor of the next page (or null). */
export async function searchCatalog(
  db: Db,
  actor: Actor,
  filters: CatalogFilters,
  opts: { sort: CatalogSort; cursor?: string; limit: number },
): Promise<{ items: CatalogItem[]; nextCursor: string | null }> {
  if (filters.from && filters.to && filters.from >= filters.to)
    throw new AppError("BAD_REQUEST", "The date range is empty: the start must be before the end.");
  const run = async (strategy: CatalogStrategy, scope?: string[]) =>
    (
      await db.$queryRaw<PageRow[]>(catalogPageSql(actor, filters, { ...opts, strategy, scopeVmIds: scope }))
    ).filter((r) => r.id !== null);
  let rows: PageRow[];
  if (queryTerms(filters.q).length === 0) rows = await run("plain");
  else {
    const walked = await db.$queryRaw<PageRow[]>(
      catalogPageSql(actor, filters, { ...opts, strategy: "walk" }),
    );
    const found = walked.filter((r) => r.id !== null);
    const scanned = walked[0]?.scanned ?? 0;
    // A full page among the first rows, or every row read: the walk has the answer. Else the indexes do.
    rows =
      found.length > opts.limit || scanned < WALK_BUDGET
        ? found
        : await run("index", await scopeVmIds(db, actor));
  }
  const items = rows.slice(0, opts.limit);
  const last = items[items.length - 1];
  return {
    items: items.map((r) => ({
      id: r.id,
      vmId: r.vmId,
      vmName: r.vmName,
      engineId: r.engineId,
      engineName: r.engineName ?? "(engine removed)",
      createdAt: r.createdAt,
      kind: r.kind,
      backupMode: r.backupMode,
      checkpointId: r.toCheckpointId,
      state: r.state,
      transferredBytes: Number(r.transferredBytes),
      changedBytes: r.changedBytes === null ? null : Number(r.changedBytes),
      virtualBytes: Number(r.virtualBytes),
      logicalBytes: Number(r.logicalBytes),
      newStoredBytes: Number(r.newStoredBytes),
      diskCount: r.diskCount,
      layerCount: r.layerCount,
      reusedLayerCount: r.reusedLayerCount,
      verifyState: r.verifyState,
      verifiedAt: r.verifiedAt,
      description: r.description,
      tags: r.tags ?? [],
      pinned: r.pinned,
      osType: r.osType,
      policyId: r.policyId,
      jobId: r.jobId,
    })),
    nextCursor: rows.length > opts.limit && last ? encodeCursor(cursorOf(last, opts.sort)) : null,
  };
}

export const catalogFacets = z.object({
  engines: z.array(z.object({ id: z.string(), name: z.string() })),
  /** VMs with restore points (the VM filter's choices), by name. */
  vms: z.array(z.object({ id: z.string(), name: z.string(), engineName: z.string() })),
  /** Backup tags of the latest restore points. */
  tags: z.array(z.string()),
});
export type CatalogFacets = z.infer<typeof catalogFacets>;

const FACET_MAX_VMS = 2000;
/** Tags are read from this many newest restore points (a distinct over the whole catalog would scan it). */
const FACET_TAG_SAMPLE = 2000;

/** The choices of the catalog's filters, within the actor's scope. */
export async function catalogFacetsFor(db: Db, actor: Actor): Promise<CatalogFacets> {
  const vms = await db.vm.findMany({
    where: { AND: [vmWhere(actor), { restorePoints: { some: {} } }] },
    select: { id: true, name: true, engine: { select: { id: true, name: true } } },
    orderBy: [{ name: "asc" }, { id: "asc" }],
    take: FACET_MAX_VMS,
  });
  const engines = new Map<string, string>();
  for (const v of vms) engines.set(v.engine.id, v.engine.name);
  if (actor.siteAdmin)
    for (const e of await db.engine.findMany({ select: { id: true, name: true } })) engines.set(e.id, e.name);
  const tags = await db.$queryRaw<Array<{ tag: string }>>`
    SELECT DISTINCT unnest(s.tags) AS tag FROM (
      SELECT rp.tags FROM restore_point rp WHERE ${vmInScopeSql(actor, Prisma.raw('rp."vmId"'))}
      ORDER BY rp."createdAt" DESC LIMIT ${FACET_TAG_SAMPLE}) s
    ORDER BY tag LIMIT 200`;
  return {
    engines: [...engines].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name)),
    vms: vms.map((v) => ({ id: v.id, name: v.name, engineName: v.engine.name })),
    tags: tags.map((t) => t.tag),
  };
}
