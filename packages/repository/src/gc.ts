import { forEachConcurrent } from "./concurrent";
import { ObjectNotFoundError, RepositoryError } from "./errors";
import { ChunkIdSet } from "./id-set";
import type { SessionRecord } from "./manifest";
import { chunkIdOfKey, KEYS, type ObjectStore, SESSION_STALE_MS } from "./store";

/**
 * Unreferenced objects younger than this are kept: a margin for clocks and for callers that write a layer and
 * its restore point under separate sessions. Writers are protected by their sessions, not by this: what a
 * failed backup left goes at the next gc once its session closed or its lease ran out.
 */
export const DEFAULT_GC_GRACE_MS = 5 * 60_000;

// Session start times come from the writer's clock and file times from the kernel's coarse clock:
// keep a margin so that nothing a session wrote looks older than its start.
const SESSION_MARGIN_MS = 60_000;
const SWEEP_CONCURRENCY = 16;

export interface GcOptions {
  /** Unreferenced objects written or used within this period are kept (default DEFAULT_GC_GRACE_MS, 5 minutes). */
  graceMs?: number;
  /** Report what would be deleted; change nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
  /** A session not renewed for this long is dead; default: its own lease (10 minutes for records without one). */
  sessionStaleMs?: number;
  onProgress?: (phase: "mark" | "sweep", done: number) => void;
}

export interface GcReport {
  dryRun: boolean;
  startedAt: string;
  /** Objects older than this and unreferenced were deleted. */
  cutoff: string;
  durationMs: number;
  activeSessions: number;
  staleSessions: number;
  restorePoints: number;
  /** Layers kept: referenced by a restore point, or written within the grace period / by a live session. */
  liveLayers: number;
  /** Distinct chunks the live layers reference. */
  referencedChunks: number;
  /** Referenced chunks the sweep did not find (run verify). */
  missingChunks: number;
  /** Layers a restore point references that are missing. */
  missingLayers: string[];
  deletedLayers: number;
  deletedChunks: number;
  /** Bytes of deleted chunks, layer manifests and leftover temp files. */
  freedBytes: number;
  /** Leftover temp files of interrupted writes removed. */
  incompleteRemoved: number;
  remainingChunks: number;
  remainingBytes: number;
}

/**
 * Mark and sweep; see Repository.gc. Phase 1 reads every restore point and every live layer manifest and
 * notes the chunks they reference (in memory, compactly: gc never touches them, so running it does not
 * extend anyone's life). Phase 2 deletes orphan layer manifests, then chunks that are neither referenced nor
 * written or touched since the cutoff. Each delete is conditional on the object's time at that moment, so a
 * writer that touches a chunk (dedup) or rewrites it while gc runs keeps it.
 */
export async function collectGarbage(store: ObjectStore, options: GcOptions = {}): Promise<GcReport> {
  const started = Date.now();
  const { signal } = options;
  const dryRun = options.dryRun ?? false;
  const graceMs = options.graceMs ?? DEFAULT_GC_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0)
    throw new RepositoryError("gc grace period must be 0 or more");
  const backend = store.backend;

  let cutoff = started - graceMs;
  let activeSessions = 0;
  let staleSessions = 0;
  for await (const s of store.ids(KEYS.sessions)) {
    let record: SessionRecord | undefined;
    try {
      record = await store.readSession(s.id);
    } catch (e) {
      if (e instanceof ObjectNotFoundError) continue; // closed meanwhile
      if (!(e instanceof RepositoryError)) throw e;
      // unreadable: it protects everything (we cannot know since when it writes) until it is stale
    }
    // A session not renewed within its lease (plus the clock margin) is dead: its record goes before anything
    // is swept, conditionally, so that a writer renewing at this moment keeps it (and then it counts as live).
    const deadBefore =
      started - (options.sessionStaleMs ?? record?.leaseMs ?? SESSION_STALE_MS) - SESSION_MARGIN_MS;
    if (s.mtimeMs < deadBefore) {
      if (dryRun || (await backend.deleteIfUnmodifiedSince(s.key, deadBefore)) !== undefined) {
        staleSessions++;
        continue;
      }
      if (!(await backend.has(s.key))) continue; // closed meanwhile
    }
    activeSessions++;
    cutoff = Math.min(cutoff, (record?.startedAt ?? 0) - SESSION_MARGIN_MS);
  }

  const report: GcReport = {
    dryRun,
    startedAt: new Date(started).toISOString(),
    cutoff: new Date(Math.max(0, cutoff)).toISOString(),
    durationMs: 0,
    activeSessions,
    staleSessions,
    restorePoints: 0,
    liveLayers: 0,
    referencedChunks: 0,
    missingChunks: 0,
    missingLayers: [],
    deletedLayers: 0,
    deletedChunks: 0,
    freedBytes: 0,
    incompleteRemoved: 0,
    remainingChunks: 0,
    remainingBytes: 0,
  };

  if (!dryRun) {
    const swept = await backend.sweepIncomplete(cutoff);
    report.incompleteRemoved = swept.count;
    report.freedBytes += swept.bytes;
  }

  // Roots. Anything unreadable stops gc before it deletes: it cannot know what that object references.
  const referenced = new Set<string>();
  for await (const { id } of store.ids(KEYS.points)) {
    signal?.throwIfAborted();
    let point: Awaited<ReturnType<ObjectStore["readRestorePoint"]>>;
    try {
      point = await store.readRestorePoint(id);
    } catch (e) {
      if (e instanceof ObjectNotFoundError) continue; // deleted meanwhile
      throw new RepositoryError(
        `gc stopped before deleting anything: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    report.restorePoints++;
    for (const disk of point.disks) for (const l of disk.layers) referenced.add(l.layerId);
  }

  const marked = new ChunkIdSet();
  const mark = async (layerId: string): Promise<boolean> => {
    let m: Awaited<ReturnType<ObjectStore["readLayerManifest"]>>;
    try {
      m = await store.readLayerManifest(layerId);
    } catch (e) {
      if (e instanceof ObjectNotFoundError) return false;
      throw new RepositoryError(
        `gc stopped before deleting anything: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    for (const e of m.entries) if ("id" in e) marked.add(e.id);
    report.liveLayers++;
    options.onProgress?.("mark", report.liveLayers);
    return true;
  };

  // Live layers: referenced by a restore point, or written (or reused) after the cutoff.
  const orphans = new Set<string>();
  const present = new Set<string>();
  for await (const l of store.ids(KEYS.layers)) {
    present.add(l.id);
    if (!referenced.has(l.id) && l.mtimeMs < cutoff) orphans.add(l.id);
  }
  for (const id of referenced) if (!present.has(id)) report.missingLayers.push(id);
  for (const id of present) {
    signal?.throwIfAborted();
    if (!orphans.has(id)) await mark(id);
  }

  // Phase 2. Orphan layer manifests first: a crash after this step leaves only unreferenced chunks.
  for (const id of orphans) {
    signal?.throwIfAborted();
    const key = KEYS.layer(id);
    if (dryRun) {
      report.deletedLayers++;
      report.freedBytes += (await backend.stat(key))?.size ?? 0;
      continue;
    }
    const freed = await backend.deleteIfUnmodifiedSince(key, cutoff);
    if (freed !== undefined) {
      report.deletedLayers++;
      report.freedBytes += freed;
    } else await mark(id); // reused by a writer just now: its chunks stay too
  }

  marked.freeze();
  report.referencedChunks = marked.size;
  let swept = 0;
  await forEachConcurrent(
    backend.list(KEYS.chunks),
    SWEEP_CONCURRENCY,
    async (entry) => {
      const id = chunkIdOfKey(entry.key);
      if (id === undefined) return; // not ours: leave it alone
      const keep = () => {
        report.remainingChunks++;
        report.remainingBytes += entry.size;
      };
      if (marked.has(id) || entry.mtimeMs >= cutoff) keep();
      else if (dryRun) {
        report.deletedChunks++;
        report.freedBytes += entry.size;
      } else {
        const freed = await backend.deleteIfUnmodifiedSince(entry.key, cutoff);
        if (freed === undefined) keep();
        else {
          report.deletedChunks++;
          report.freedBytes += freed;
        }
      }
      if (++swept % 1024 === 0) options.onProgress?.("sweep", swept);
    },
    signal,
  );
  report.missingChunks = marked.unseen();

  report.durationMs = Date.now() - started;
  return report;
}
