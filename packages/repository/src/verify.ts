import { forEachConcurrent } from "./concurrent";
import { ChunkError, ObjectNotFoundError, RepositoryError } from "./errors";
import type { LayerManifest } from "./manifest";
import { KEYS, type ObjectStore } from "./store";

export interface VerifyOptions {
  /** Only this restore point (default: every restore point and every layer in the repository). */
  pointId?: string;
  /**
   * Move each corrupt chunk aside (see ObjectStore.quarantineChunk) so that the next backup of its data writes it
   * again. The restore points that used it stay damaged until a later verify finds the chunk good.
   */
  quarantine?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: VerifyProgress) => void;
}

export interface VerifyProgress {
  chunks: number;
  totalChunks: number;
  bytes: number;
}

export interface BadChunk {
  chunkId: string;
  problem: "missing" | "corrupt";
  detail: string;
  /** Layers that contain the chunk (within the verified scope). */
  layers: string[];
  /** Restore points those layers belong to. */
  restorePoints: string[];
  /** With `quarantine`: moved aside (true), or why that failed (an Object Lock retention, say). */
  quarantined?: true | { error: string };
}

export interface BadLayer {
  layerId: string;
  /** missing/corrupt: its manifest; chunks: it contains bad chunks; mismatch: not what a restore point records. */
  problem: "missing" | "corrupt" | "chunks" | "mismatch";
  detail: string;
  restorePoints: string[];
}

export interface BadRestorePoint {
  id: string;
  /** unreadable: its own manifest; broken: one of its layers is bad. */
  problem: "unreadable" | "broken";
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  pointId?: string;
  startedAt: string;
  durationMs: number;
  checked: { restorePoints: number; layers: number; chunks: number; bytes: number };
  badChunks: BadChunk[];
  badLayers: BadLayer[];
  badRestorePoints: BadRestorePoint[];
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Re-reads and re-hashes every chunk in scope once; see Repository.verify. */
export async function verifyRepository(
  store: ObjectStore,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const started = Date.now();
  const { signal } = options;
  const badLayers = new Map<string, BadLayer>();
  const badPoints = new Map<string, BadRestorePoint>();
  /** layer id → restore points that use it */
  const users = new Map<string, Set<string>>();
  /** layer id → what the restore points say it is */
  const expected = new Map<string, { sha256: string; size: number; point: string }[]>();

  const pointIds: string[] = [];
  if (options.pointId !== undefined) pointIds.push(options.pointId);
  else for await (const { id } of store.ids(KEYS.points)) pointIds.push(id);

  let pointsRead = 0;
  for (const id of pointIds) {
    signal?.throwIfAborted();
    try {
      const point = await store.readRestorePoint(id);
      pointsRead++;
      for (const disk of point.disks)
        for (const l of disk.layers) {
          const set = users.get(l.layerId) ?? new Set<string>();
          set.add(id);
          users.set(l.layerId, set);
          const list = expected.get(l.layerId) ?? [];
          list.push({ sha256: l.sha256, size: l.size, point: id });
          expected.set(l.layerId, list);
        }
    } catch (e) {
      if (options.pointId !== undefined && e instanceof ObjectNotFoundError)
        throw new RepositoryError(`restore point ${id} is not in repository ${store.location}`);
      if (!(e instanceof RepositoryError)) throw e;
      badPoints.set(id, { id, problem: "unreadable", detail: message(e) });
    }
  }

  const layerIds = new Set(users.keys());
  if (options.pointId === undefined) for await (const { id } of store.ids(KEYS.layers)) layerIds.add(id);

  const pointsOf = (layerId: string) => [...(users.get(layerId) ?? [])].sort();
  const chunkLengths = new Map<string, number>();
  const readable: string[] = [];
  for (const layerId of layerIds) {
    signal?.throwIfAborted();
    let m: LayerManifest;
    try {
      m = await store.readLayerManifest(layerId);
    } catch (e) {
      if (!(e instanceof RepositoryError)) throw e;
      const problem = e instanceof ObjectNotFoundError ? "missing" : "corrupt";
      badLayers.set(layerId, { layerId, problem, detail: message(e), restorePoints: pointsOf(layerId) });
      continue;
    }
    readable.push(layerId);
    for (const want of expected.get(layerId) ?? [])
      if (want.sha256 !== m.sha256 || want.size !== m.size)
        badLayers.set(layerId, {
          layerId,
          problem: "mismatch",
          detail: `restore point ${want.point} records ${want.size} bytes with SHA-256 ${want.sha256}, the layer holds ${m.size} bytes with SHA-256 ${m.sha256}`,
          restorePoints: pointsOf(layerId),
        });
    for (const e of m.entries) if ("id" in e) chunkLengths.set(e.id, e.length);
  }

  // Each chunk once, however many layers share it; reads and decompression run in parallel.
  const badChunks = new Map<string, BadChunk>();
  const totalChunks = chunkLengths.size;
  const progress: VerifyProgress = { chunks: 0, totalChunks, bytes: 0 };
  await forEachConcurrent(
    chunkLengths,
    store.concurrency,
    async ([id, length]) => {
      try {
        await store.readChunk(id, length);
        progress.bytes += length;
      } catch (e) {
        if (!(e instanceof ChunkError)) throw e;
        badChunks.set(id, {
          chunkId: id,
          problem: e.problem,
          detail: e.detail,
          layers: [],
          restorePoints: [],
        });
      }
      progress.chunks++;
      options.onProgress?.({ ...progress });
    },
    signal,
  );

  if (options.quarantine)
    for (const bad of badChunks.values()) {
      if (bad.problem !== "corrupt") continue;
      try {
        await store.quarantineChunk(bad.chunkId);
        bad.quarantined = true;
      } catch (e) {
        bad.quarantined = { error: message(e) };
      }
    }

  if (badChunks.size > 0) {
    // Second pass, only when something is bad: which layers (and so restore points) each bad chunk breaks.
    for (const layerId of readable) {
      const m = await store.readLayerManifest(layerId);
      const hits = new Set<string>();
      for (const e of m.entries) if ("id" in e && badChunks.has(e.id)) hits.add(e.id);
      if (hits.size === 0) continue;
      for (const id of hits) {
        const bad = badChunks.get(id);
        bad?.layers.push(layerId);
        for (const p of pointsOf(layerId))
          if (bad && !bad.restorePoints.includes(p)) bad.restorePoints.push(p);
      }
      if (!badLayers.has(layerId))
        badLayers.set(layerId, {
          layerId,
          problem: "chunks",
          detail: `${hits.size} bad chunk(s): ${[...hits].slice(0, 3).join(", ")}${hits.size > 3 ? ", ..." : ""}`,
          restorePoints: pointsOf(layerId),
        });
    }
  }

  for (const layer of badLayers.values())
    for (const p of layer.restorePoints)
      if (!badPoints.has(p))
        badPoints.set(p, {
          id: p,
          problem: "broken",
          detail: `layer ${layer.layerId}: ${layer.problem} (${layer.detail})`,
        });

  const chunks = [...badChunks.values()].map((c) => ({
    ...c,
    layers: c.layers.sort(),
    restorePoints: c.restorePoints.sort(),
  }));
  return {
    ok: chunks.length === 0 && badLayers.size === 0 && badPoints.size === 0,
    ...(options.pointId === undefined ? {} : { pointId: options.pointId }),
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    checked: {
      restorePoints: pointsRead,
      layers: readable.length,
      chunks: progress.chunks,
      bytes: progress.bytes,
    },
    badChunks: chunks.sort((a, b) => a.chunkId.localeCompare(b.chunkId)),
    badLayers: [...badLayers.values()].sort((a, b) => a.layerId.localeCompare(b.layerId)),
    badRestorePoints: [...badPoints.values()].sort((a, b) => a.id.localeCompare(b.id)),
  };
}
