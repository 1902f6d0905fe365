import type { Db, Prisma } from "@lifeboat/db";
import type { JobRun } from "@lifeboat/jobs";
import { JobFailure } from "@lifeboat/jobs";
import type { Repository, VerifyReport } from "@lifeboat/repository";

/** At most this many bad chunks and layers are named in events and in the job's result. */
const NAMED = 50;

export interface VerificationOutcome {
  report: VerifyReport;
  /** Catalog restore points found damaged (id → why). */
  failed: Map<string, string>;
  /** Catalog restore points found intact. */
  okCount: number;
}

function quarantineNote(q: VerifyReport["badChunks"][number]["quarantined"]): string {
  if (q === true) return "; moved to the quarantine: the next backup of this data stores it again";
  if (q) return `; it could not be moved to the quarantine (${q.error})`;
  return "";
}

/** Why each restore point (repository id) of a report is broken, in the first words that name the damage. */
function damageByPoint(report: VerifyReport): Map<string, string> {
  const why = new Map<string, string>();
  for (const c of report.badChunks)
    for (const p of c.restorePoints)
      if (!why.has(p)) why.set(p, `chunk ${c.chunkId} is ${c.problem} (${c.detail})`);
  for (const l of report.badLayers)
    for (const p of l.restorePoints) if (!why.has(p)) why.set(p, `layer ${l.layerId}: ${l.detail}`);
  for (const p of report.badRestorePoints) if (!why.has(p.id)) why.set(p.id, p.detail);
  return why;
}

/**
 * Re-reads and re-hashes the chunks of one restore point (`pointId`, a catalog id) or of the whole repository,
 * and records the outcome in the catalog: verifyState ok or failed (with the first damage found) for each
 * restore point checked — a bad chunk fails every restore point that uses it. Each bad chunk is an event naming
 * the restore points it breaks.
 */
export async function verifyAndRecord(
  db: Db,
  run: JobRun,
  repository: Repository,
  pointId?: string,
): Promise<VerificationOutcome> {
  const point = pointId
    ? await db.restorePoint.findUnique({
        where: { id: pointId },
        select: { id: true, manifestId: true, vmName: true },
      })
    : null;
  if (pointId && !point) throw new JobFailure("The restore point to verify no longer exists.");
  run.setPhase(point ? `verifying the restore point of ${point.vmName}` : "verifying the whole repository");
  let report: VerifyReport;
  try {
    report = await repository.verify({
      pointId: point ? (point.manifestId ?? point.id) : undefined,
      // A corrupt chunk moves aside, so the next backup of its data stores it again instead of deduplicating
      // against the bad copy; the restore points that used it stay failed until a verify finds it good.
      quarantine: true,
      signal: run.signal,
      onProgress: (p) =>
        run.progress({
          phase: `verifying chunks (${p.chunks} of ${p.totalChunks})`,
          bytesDone: p.bytes,
          bytesTotal: 0,
          rate: 0,
        }),
    });
  } catch (e) {
    if (!point || run.signal.aborted) throw e;
    // The restore point's own manifest is gone or unreadable: that is damage too.
    const why = e instanceof Error ? e.message : String(e);
    await db.restorePoint.update({
      where: { id: point.id },
      data: { verifyState: "failed", verifiedAt: new Date(), verifyError: why.slice(0, 2000) },
    });
    throw new JobFailure(`Restore point ${point.id} cannot be verified: ${why}`);
  }

  for (const c of report.badChunks.slice(0, NAMED))
    run.event(
      "error",
      "verify",
      `chunk ${c.chunkId} is ${c.problem}: ${c.detail}; it breaks restore point(s) ${c.restorePoints.join(", ")}${quarantineNote(c.quarantined)}`,
      {
        chunkId: c.chunkId,
        problem: c.problem,
        quarantined: c.quarantined === true,
        layers: c.layers,
        restorePoints: c.restorePoints,
      },
    );
  for (const l of report.badLayers.filter((x) => x.problem !== "chunks").slice(0, NAMED))
    run.event("error", "verify", `layer ${l.layerId} is ${l.problem}: ${l.detail}`, {
      layerId: l.layerId,
      restorePoints: l.restorePoints,
    });

  const damage = damageByPoint(report);
  const now = new Date();
  const failed = new Map<string, string>();
  // Catalog rows by repository id (manifestId; Lifeboat's backups use the same id for both).
  const scope: Prisma.RestorePointWhereInput = point ? { id: point.id } : { state: "complete" };
  if (!point) {
    const present = new Set<string>();
    for await (const e of repository.backend.list("points/")) present.add(e.key.slice("points/".length));
    let cursor: string | undefined;
    for (;;) {
      const rows = await db.restorePoint.findMany({
        where: scope,
        select: { id: true, manifestId: true },
        orderBy: { id: "asc" },
        take: 1000,
        ...(cursor ? { cursor: { id: cursor }, skip: 1 } : {}),
      });
      for (const r of rows) {
        const key = r.manifestId ?? r.id;
        const why =
          damage.get(key) ?? (present.has(key) ? undefined : "its manifest is not in the repository");
        if (why) failed.set(r.id, why);
      }
      if (rows.length < 1000) break;
      cursor = rows[rows.length - 1]?.id;
    }
  } else {
    const why = damage.get(point.manifestId ?? point.id) ?? (report.ok ? undefined : "damaged data");
    if (why) {
      failed.set(point.id, why);
      // Other restore points that use a damaged layer (an unchanged layer is shared) are broken as well.
      const badLayers = [
        ...new Set([...report.badChunks.flatMap((c) => c.layers), ...report.badLayers.map((l) => l.layerId)]),
      ];
      const sharing = await db.restorePoint.findMany({
        where: {
          id: { not: point.id },
          disks: { some: { layers: { some: { manifestId: { in: badLayers } } } } },
        },
        select: { id: true },
      });
      for (const r of sharing)
        failed.set(r.id, `shares a damaged layer with restore point ${point.id}: ${why}`);
    }
  }
  for (const [id, why] of failed)
    await db.restorePoint.update({
      where: { id },
      data: { verifyState: "failed", verifiedAt: now, verifyError: why.slice(0, 2000) },
    });
  const ok = await db.restorePoint.updateMany({
    where: { AND: [scope, { id: { notIn: [...failed.keys()] } }] },
    data: { verifyState: "ok", verifiedAt: now, verifyError: null },
  });
  return { report, failed, okCount: ok.count };
}

/** The job result of a verification, bounded. */
export function verificationResult(o: VerificationOutcome): Record<string, unknown> {
  return {
    ok: o.failed.size === 0 && o.report.ok,
    checked: o.report.checked,
    durationMs: o.report.durationMs,
    restorePointsOk: o.okCount,
    restorePointsFailed: [...o.failed.entries()].slice(0, NAMED).map(([id, why]) => ({ id, why })),
    badChunks: o.report.badChunks.slice(0, NAMED).map((c) => ({
      chunkId: c.chunkId,
      problem: c.problem,
      detail: c.detail,
      restorePoints: c.restorePoints,
    })),
    badLayers: o.report.badLayers.slice(0, NAMED).map((l) => ({
      layerId: l.layerId,
      problem: l.problem,
      detail: l.detail,
      restorePoints: l.restorePoints,
    })),
  };
}

/** Fails the job when the verification found damage, naming the first bad chunk and the restore points it breaks. */
export function throwIfDamaged(o: VerificationOutcome): void {
  if (o.failed.size === 0 && o.report.ok) return;
  const first = o.report.badChunks[0];
  const what = first
    ? `chunk ${first.chunkId} is ${first.problem} (${first.detail})`
    : (o.report.badLayers[0]?.detail ??
      o.report.badRestorePoints[0]?.detail ??
      [...o.failed.values()][0] ??
      "damage");
  const points = [...o.failed.keys()];
  const more = o.report.badChunks.length > 1 ? ` and ${o.report.badChunks.length - 1} more bad chunk(s)` : "";
  throw new JobFailure(
    `Verification found damage: ${what}${more}. It breaks ${points.length} restore point(s): ${points.slice(0, 10).join(", ")}${points.length > 10 ? ", …" : ""}; they are marked failed and cannot be restored.`,
    verificationResult(o),
  );
}
