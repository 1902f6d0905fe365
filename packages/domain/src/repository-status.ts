import { z } from "zod";
import type { Actor, ServiceContext } from "./context";
import { AppError } from "./errors";
import { measureRepository } from "./inventory-usage";
import { catalogRepository } from "./repository";

/** The repository as site administrators see it (Settings → Repository): its size over time, verification. */

const jobSummary = z
  .object({
    id: z.string(),
    state: z.string(),
    createdAt: z.date(),
    finishedAt: z.date().nullable(),
    error: z.string().nullable(),
    result: z.unknown().nullable(),
  })
  .nullable();

export const repositoryStatusView = z.object({
  /** Where the chunks live (local folder). */
  location: z.string(),
  encrypted: z.boolean(),
  latest: z
    .object({ at: z.date(), storedBytes: z.number(), logicalBytes: z.number(), chunkCount: z.number() })
    .nullable(),
  /** Every sample of the last 90 days, oldest first (at most 500, evenly spread). */
  usage: z.array(z.object({ at: z.date(), storedBytes: z.number(), logicalBytes: z.number() })),
  restorePoints: z.object({
    complete: z.number(),
    /** By verification state (complete restore points). */
    verify: z.record(z.string(), z.number()),
    lastVerifiedAt: z.date().nullable(),
  }),
  lastVerify: jobSummary,
  lastGc: jobSummary,
});
export type RepositoryStatusView = z.infer<typeof repositoryStatusView>;

function jobOf(
  j: {
    id: string;
    state: string;
    createdAt: Date;
    finishedAt: Date | null;
    error: string | null;
    result: unknown;
  } | null,
) {
  return j
    ? {
        id: j.id,
        state: j.state,
        createdAt: j.createdAt,
        finishedAt: j.finishedAt,
        error: j.error,
        result: j.result ?? null,
      }
    : null;
}

/** Repository status for site administrators: size over time, verification state, the last verify and gc jobs. */
export async function repositoryStatus(
  ctx: Pick<ServiceContext, "db" | "config">,
  _actor: Actor,
): Promise<RepositoryStatusView> {
  const { db } = ctx;
  const settings = ctx.config.repository;
  const since = new Date(Date.now() - 90 * 24 * 3600_000);
  const total = await db.repositoryUsage.count({ where: { at: { gte: since } } });
  const step = Math.max(1, Math.ceil(total / 500));
  const samples = await db.$queryRaw<Array<{ at: Date; stored: bigint; logical: bigint }>>`
    SELECT at, stored, logical FROM (
      SELECT at, "storedBytes" AS stored, "logicalBytes" AS logical,
             row_number() OVER (ORDER BY at DESC, id DESC) AS n
      FROM repository_usage WHERE at >= ${since}) s
    WHERE (n - 1) % ${step} = 0 ORDER BY at`;
  const latest = await db.repositoryUsage.findFirst({ orderBy: [{ at: "desc" }, { id: "desc" }] });
  const verify = await db.restorePoint.groupBy({
    by: ["verifyState"],
    where: { state: "complete" },
    _count: { _all: true },
  });
  const lastVerified = await db.restorePoint.findFirst({
    where: { verifiedAt: { not: null } },
    orderBy: { verifiedAt: "desc" },
    select: { verifiedAt: true },
  });
  const select = {
    id: true,
    state: true,
    createdAt: true,
    finishedAt: true,
    error: true,
    result: true,
  } as const;
  const lastVerify = await db.job.findFirst({
    where: { type: "verify" },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    select,
  });
  const lastGc = await db.job.findFirst({
    where: { type: "repository.gc" },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    select,
  });
  return {
    location: settings.dir,
    encrypted: settings.key !== undefined,
    latest: latest
      ? {
          at: latest.at,
          storedBytes: Number(latest.storedBytes),
          logicalBytes: Number(latest.logicalBytes),
          chunkCount: latest.chunkCount,
        }
      : null,
    usage: samples.map((s) => ({
      at: s.at,
      storedBytes: Number(s.stored),
      logicalBytes: Number(s.logical),
    })),
    restorePoints: {
      complete: verify.reduce((n, v) => n + v._count._all, 0),
      verify: Object.fromEntries(verify.map((v) => [v.verifyState, v._count._all])),
      lastVerifiedAt: lastVerified?.verifiedAt ?? null,
    },
    lastVerify: jobOf(lastVerify),
    lastGc: jobOf(lastGc),
  };
}

export const repositoryMeasuredView = z.object({
  restorePoints: z.number(),
  layers: z.number(),
  chunks: z.number(),
  storedBytes: z.number(),
  logicalBytes: z.number(),
  dedupRatio: z.number().nullable(),
});
export type RepositoryMeasuredView = z.infer<typeof repositoryMeasuredView>;

/** Measures the repository now (lists every chunk) and records an exact usage sample. */
export async function remeasureRepository(
  ctx: ServiceContext,
  _actor: Actor,
): Promise<RepositoryMeasuredView> {
  let repo: Awaited<ReturnType<typeof catalogRepository>>;
  try {
    repo = await catalogRepository(ctx.config.repository);
  } catch (e) {
    throw new AppError(
      "PRECONDITION_FAILED",
      `The repository cannot be opened: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const stats = await measureRepository(ctx.db, repo);
  ctx.audit.details = { chunks: stats.chunks, storedBytes: stats.storedBytes };
  return {
    restorePoints: stats.restorePoints,
    layers: stats.layers,
    chunks: stats.chunks,
    storedBytes: stats.storedBytes,
    logicalBytes: stats.logicalBytes,
    dedupRatio: stats.dedupRatio,
  };
}
