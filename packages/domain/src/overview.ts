import { type Db, Prisma } from "@lifeboat/db";
import { z } from "zod";
import type { Actor, ServiceContext } from "./context";
import { AppError } from "./errors";
import { protectionCounts } from "./inventory";
import { roleGrants } from "./permissions";
import { teamRowWhere, vmInScopeSql } from "./vm-ownership";

export const leftoverItem = z.object({
  id: z.string(),
  jobId: z.string(),
  jobType: z.string(),
  engineId: z.string(),
  engineName: z.string(),
  /** snapshot | image_transfer | disk | vm */
  kind: z.string(),
  objectId: z.string(),
  description: z.string(),
  createdAt: z.date(),
  resolvedAt: z.date().nullable(),
  resolvedBy: z.string().nullable(),
});

export const leftoversQuery = z
  .object({
    includeResolved: z.boolean().default(false),
    limit: z.number().int().min(1).max(200).default(50),
  })
  .default({ includeResolved: false, limit: 50 });

export type LeftoversQuery = z.input<typeof leftoversQuery>;

/**
 * What jobs created on an engine and could not remove (snapshots, transfers, disks), newest first: the operator
 * removes them on the engine, then marks them resolved here.
 */
export async function listLeftovers(
  db: Db,
  actor: Actor,
  query: LeftoversQuery,
): Promise<Array<z.infer<typeof leftoverItem>>> {
  const input = leftoversQuery.parse(query);
  const rows = await db.leftover.findMany({
    where: { job: teamRowWhere(actor), ...(input.includeResolved ? {} : { resolvedAt: null }) },
    include: { job: { select: { type: true } } },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: input.limit,
  });
  const engines = new Map(
    (await db.engine.findMany({ select: { id: true, name: true } })).map((e) => [e.id, e.name]),
  );
  return rows.map((l) => ({
    id: l.id,
    jobId: l.jobId,
    jobType: l.job.type,
    engineId: l.engineId,
    engineName: engines.get(l.engineId) ?? "(engine removed)",
    kind: l.kind,
    objectId: l.objectId,
    description: l.description,
    createdAt: l.createdAt,
    resolvedAt: l.resolvedAt,
    resolvedBy: l.resolvedBy,
  }));
}

/** Marks a leftover resolved (after removing it on the engine): it leaves the overview's attention list. */
export async function resolveLeftover(
  ctx: ServiceContext,
  actor: Actor,
  id: string,
): Promise<{ id: string; resolvedAt: Date }> {
  const row = await ctx.db.leftover.findFirst({
    where: { id: id, job: teamRowWhere(actor) },
    include: { job: { select: { teamId: true } } },
  });
  if (!row) throw new AppError("NOT_FOUND", "No such leftover (or it belongs to another team).");
  ctx.audit.teamId = row.job.teamId ?? undefined;
  ctx.audit.targetType = "leftover";
  ctx.audit.targetId = row.id;
  ctx.audit.details = { kind: row.kind, objectId: row.objectId, engineId: row.engineId };
  if (row.resolvedAt) throw new AppError("CONFLICT", "This leftover was resolved already.");
  const resolvedAt = new Date();
  await ctx.db.leftover.update({
    where: { id: row.id },
    data: { resolvedAt, resolvedBy: `${actor.name} <${actor.email}>` },
  });
  return { id: row.id, resolvedAt };
}

export const overviewSummaryView = z.object({
  engines: z.number().int(),
  /** Engines whose last contact failed (site administrators only). */
  enginesFailing: z.array(z.object({ id: z.string(), name: z.string(), lastError: z.string() })),
  jobsLast24h: z.record(z.string(), z.number().int()),
  vms: z.object({ protected: z.number(), unprotected: z.number(), neverBackedUp: z.number() }),
  /** Repository size over time (site administrators; one sample per backup and garbage collection). */
  repositoryUsage: z.array(z.object({ at: z.date(), storedBytes: z.number(), logicalBytes: z.number() })),
  /** Backups of the caller's VMs per day, last 30 days (UTC days). */
  backupsPerDay: z.array(z.object({ day: z.string(), count: z.number(), logicalBytes: z.number() })),
  /** Failed jobs of the last 7 days, newest first. */
  recentFailures: z.array(
    z.object({
      id: z.string(),
      type: z.string(),
      error: z.string().nullable(),
      finishedAt: z.date().nullable(),
      vmId: z.string().nullable(),
      vmName: z.string().nullable(),
    }),
  ),
  /** Engine objects jobs could not clean up, not resolved yet. */
  openLeftovers: z.number().int(),
});

const USAGE_POINTS = 200;

/**
 * The overview: engines, protected vs unprotected VMs, jobs of the last day by outcome, repository usage and
 * backups over time, failures and leftovers that need attention — all scoped to what the caller may see (any
 * signed-in user; someone in no team sees zeros and the first steps).
 */
export async function overviewSummary(db: Db, me: Actor): Promise<z.infer<typeof overviewSummaryView>> {
  // "authenticated" resolves no team scope: the caller's teams where the role reads VMs and jobs.
  const memberships = me.siteAdmin
    ? []
    : await db.membership.findMany({
        where: { userId: me.userId },
        select: { teamId: true, role: true },
      });
  const actor: Actor = {
    ...me,
    teamIds: memberships.filter((m) => roleGrants(m.role, "job:read")).map((m) => m.teamId),
  };
  const now = Date.now();
  const jobs = await db.job.groupBy({
    by: ["state"],
    where: { AND: [teamRowWhere(actor), { createdAt: { gte: new Date(now - 24 * 3600_000) } }] },
    _count: { _all: true },
  });
  const failures = await db.job.findMany({
    where: {
      AND: [teamRowWhere(actor), { state: "failed", finishedAt: { gte: new Date(now - 7 * 24 * 3600_000) } }],
    },
    orderBy: [{ finishedAt: "desc" }, { id: "desc" }],
    take: 8,
    select: { id: true, type: true, error: true, finishedAt: true, vmId: true },
  });
  const failedVms = await db.vm.findMany({
    where: { id: { in: failures.map((f) => f.vmId).filter((v): v is string => !!v) } },
    select: { id: true, name: true },
  });
  const vmNames = new Map(failedVms.map((v) => [v.id, v.name]));
  const openLeftovers = await db.leftover.count({
    where: { resolvedAt: null, job: teamRowWhere(actor) },
  });
  const perDay = await db.$queryRaw<Array<{ day: string; count: number; bytes: bigint }>>`
    SELECT to_char(date_trunc('day', rp."createdAt"), 'YYYY-MM-DD') AS day, count(*)::int AS count,
           coalesce(sum(rp."logicalBytes"), 0)::bigint AS bytes
    FROM restore_point rp
    WHERE rp.state = 'complete' AND rp."createdAt" >= ${new Date(now - 30 * 24 * 3600_000)}
      AND ${vmInScopeSql(actor, Prisma.raw('rp."vmId"'))}
    GROUP BY 1 ORDER BY 1`;
  let usage: Array<{ at: Date; storedBytes: number; logicalBytes: number }> = [];
  let engines = 0;
  let enginesFailing: Array<{ id: string; name: string; lastError: string }> = [];
  if (actor.siteAdmin) {
    // The last sample of each of USAGE_POINTS equal time slices of the last 90 days (a sample per backup/gc).
    const since = new Date(now - 90 * 24 * 3600_000);
    const rows = await db.$queryRaw<Array<{ at: Date; stored: bigint; logical: bigint }>>`
      SELECT DISTINCT ON (bucket) at, stored, logical FROM (
        SELECT at, id, "storedBytes" AS stored, "logicalBytes" AS logical,
               width_bucket(extract(epoch FROM at)::float8, ${since.getTime() / 1000}::float8, ${now / 1000 + 1}::float8,
                            ${USAGE_POINTS}::int) AS bucket
        FROM repository_usage WHERE at >= ${since}
      ) s
      ORDER BY bucket, at DESC, id DESC`;
    usage = rows.map((r) => ({ at: r.at, storedBytes: Number(r.stored), logicalBytes: Number(r.logical) }));
    const all = await db.engine.findMany({
      select: { id: true, name: true, lastError: true, enabled: true },
    });
    engines = all.length;
    enginesFailing = all
      .filter((e) => e.enabled && e.lastError)
      .map((e) => ({ id: e.id, name: e.name, lastError: e.lastError ?? "" }));
  }
  return {
    engines,
    enginesFailing,
    jobsLast24h: Object.fromEntries(jobs.map((j) => [j.state, j._count._all])),
    vms: await protectionCounts(db, actor),
    repositoryUsage: usage,
    backupsPerDay: perDay.map((d) => ({ day: d.day, count: d.count, logicalBytes: Number(d.bytes) })),
    recentFailures: failures.map((f) => ({
      id: f.id,
      type: f.type,
      error: f.error,
      finishedAt: f.finishedAt,
      vmId: f.vmId,
      vmName: f.vmId ? (vmNames.get(f.vmId) ?? null) : null,
    })),
    openLeftovers,
  };
}
