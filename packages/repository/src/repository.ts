import { randomUUID } from "node:crypto";
import os from "node:os";
import type { Readable } from "node:stream";
import { checkObjectId, type RepositoryBackend } from "./backend";
import { type CodecOptions, Codecs } from "./codec";
import { forEachConcurrent } from "./concurrent";
import { ObjectFormat } from "./envelope";
import {
  ChunkError,
  CorruptObjectError,
  ObjectNotFoundError,
  RepositoryError,
  RepositoryKeyError,
} from "./errors";
import { collectGarbage, type GcOptions, type GcReport } from "./gc";
import { chunkIdFunction, deriveKeyRing, type KeyRing, keyCheckMatches, keyCheckValue } from "./keyring";
import { LocalDirectoryBackend } from "./local-backend";
import {
  chunkSizeSchema,
  DEFAULT_CHUNK_SIZE,
  type LayerManifest,
  type LayerMeta,
  type RepositoryConfig,
  type RestorePointInput,
  type RestorePointManifest,
  repositoryConfigSchema,
  restorePointInputSchema,
} from "./manifest";
import {
  LayerRandomAccess,
  type LayerRange,
  layerSegments,
  layerStream,
  type RandomAccessSource,
} from "./reader";
import { KEYS, ObjectStore, type SessionOptions, type WriterSession } from "./store";
import { type VerifyOptions, type VerifyReport, verifyRepository } from "./verify";
import { type LayerSegment, type LayerSource, type WriteLayerOptions, writeLayer } from "./writer";

export interface RepositoryOptions extends CodecOptions {
  /** 32-byte master key; required for an encrypted repository, and makes a new repository encrypted. */
  key?: Buffer;
  /** Create the repository when there is none yet. */
  create?: boolean;
  /** Chunk size of a new repository (default 4 MiB, a multiple of 4096). */
  chunkSize?: number;
  /** Chunks compressed, written or read at once (default: cores + 2). */
  concurrency?: number;
  /** Local directory only: fsync objects and folders (default true). */
  durable?: boolean;
}

export interface RepositoryStats {
  restorePoints: number;
  layers: number;
  chunks: number;
  /** Bytes the chunks take on the backend (compressed, encrypted). */
  storedBytes: number;
  /** Sum of the sizes of every layer of every restore point: what they would take without the repository. */
  logicalBytes: number;
  /** The same, counting only non-zero chunks. */
  dataBytes: number;
  /** dataBytes / storedBytes: how much dedup and compression save (null when nothing is stored). */
  dedupRatio: number | null;
}

const TOUCH_CONCURRENCY = 32;

/**
 * A deduplicating chunk store for VM disk layers and restore points. Open with `openRepository`.
 *
 * Layout (backend keys): `config.json`, `chunks/ab/cd/<id>`, `layers/<id>`, `points/<id>`, `sessions/<id>`.
 */
export class Repository {
  private constructor(
    private readonly store: ObjectStore,
    readonly config: RepositoryConfig,
  ) {}

  static async open(
    target: string | RepositoryBackend,
    options: RepositoryOptions = {},
  ): Promise<Repository> {
    const backend =
      typeof target === "string" ? new LocalDirectoryBackend(target, { durable: options.durable }) : target;
    let config = await readConfig(backend);
    if (!config) {
      if (!options.create)
        throw new RepositoryError(`no Lifeboat repository at ${backend.location} (config.json is missing)`);
      config = await createConfig(backend, options);
    }
    let keys: KeyRing | undefined;
    if (config.encryption) {
      if (!options.key)
        throw new RepositoryKeyError(
          `repository ${backend.location} is encrypted: its key is needed (LIFEBOAT_REPOSITORY_KEY)`,
        );
      keys = deriveKeyRing(options.key, config.id);
      if (!keyCheckMatches(keys, config.encryption.keyCheck))
        throw new RepositoryKeyError(`the key given is not the key of repository ${backend.location}`);
    } else if (options.key) {
      throw new RepositoryKeyError(
        `repository ${backend.location} is not encrypted, but a key was given; unset LIFEBOAT_REPOSITORY_KEY or use another repository`,
      );
    }
    const codecs = await Codecs.load(options);
    const concurrency = options.concurrency ?? os.availableParallelism() + 2;
    const store = new ObjectStore(
      backend,
      new ObjectFormat(codecs, keys?.encryption),
      chunkIdFunction(keys),
      keys?.chunkId,
      config,
      Math.max(1, concurrency),
    );
    return new Repository(store, config);
  }

  get id(): string {
    return this.config.id;
  }
  get location(): string {
    return this.store.location;
  }
  get backend(): RepositoryBackend {
    return this.store.backend;
  }
  get encrypted(): boolean {
    return this.config.encryption !== null;
  }
  get chunkSize(): number {
    return this.config.chunkSize;
  }
  /** Codec for new chunks: "zstd", or "deflate" when the zstd binding cannot be loaded. */
  get compression(): "zstd" | "deflate" {
    return this.store.format.codecs.preferred;
  }

  /**
   * Opens a writer session. Hold one for a whole backup (every writeLayer and reuseLayer, then
   * writeRestorePoint) and close it at the end: gc keeps everything newer than the oldest open session.
   */
  openSession(label: string, options?: SessionOptions): Promise<WriterSession> {
    return this.store.openSession(label, options);
  }

  /**
   * Streams a layer into the repository: cut into fixed-size chunks, all-zero chunks recorded as holes,
   * the others hashed, compressed, (encrypted) and written with bounded parallelism unless already stored.
   * The layer manifest is written last, after every chunk is durable. On error or abort nothing refers to the
   * chunks written so far; gc removes them once no session protects them.
   */
  writeLayer(source: LayerSource, meta: LayerMeta, options: WriteLayerOptions = {}) {
    return writeLayer(this.store, source, meta, options);
  }

  /**
   * Declares that a new restore point will use an existing layer (an unchanged disk snapshot): touches its
   * manifest and every chunk so that gc keeps them, and checks that they are all there. Throws ChunkError
   * for a missing chunk: then back the layer up again.
   */
  async reuseLayer(layerId: string): Promise<LayerManifest> {
    if (!(await this.store.backend.touch(KEYS.layer(checkObjectId(layerId, "layer id")))))
      throw new ObjectNotFoundError(KEYS.layer(layerId));
    const m = await this.store.readLayerManifest(layerId);
    await forEachConcurrent(m.entries.entries(), TOUCH_CONCURRENCY, async ([i, e]) => {
      if ("id" in e && !(await this.store.backend.touch(KEYS.chunk(e.id))))
        throw new ChunkError(e.id, "missing", "not in the repository", layerId, i * m.chunkSize);
    });
    return m;
  }

  readLayerManifest(layerId: string): Promise<LayerManifest> {
    return this.store.readLayerManifest(layerId);
  }

  /** Layers whose metadata matches (e.g. an oVirt image id), newest first; unreadable manifests are skipped. */
  async findLayers(filter: { imageId?: string; sha256?: string }): Promise<LayerManifest[]> {
    const found: LayerManifest[] = [];
    for await (const { id } of this.store.ids(KEYS.layers)) {
      let m: LayerManifest;
      try {
        m = await this.store.readLayerManifest(id);
      } catch (e) {
        if (e instanceof RepositoryError) continue;
        throw e;
      }
      if (filter.imageId !== undefined && m.meta.imageId !== filter.imageId) continue;
      if (filter.sha256 !== undefined && m.sha256 !== filter.sha256) continue;
      found.push(m);
    }
    return found.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** A layer (or a range of it) as bytes. A bad chunk fails the stream with a ChunkError naming it. */
  async readLayer(layerId: string, range: LayerRange = {}): Promise<Readable> {
    return layerStream(this.store, await this.store.readLayerManifest(layerId), range);
  }

  /** A layer as data segments and zero runs, the shape writeLayer takes and an imageio upload wants. */
  async *readLayerSegments(layerId: string, range: LayerRange = {}): AsyncGenerator<LayerSegment> {
    yield* layerSegments(this.store, await this.store.readLayerManifest(layerId), range);
  }

  /** Random access to a layer (qcow2 header and L1/L2 reads, HTTP Range export), caching `cacheChunks` chunks. */
  async openLayerSource(
    layerId: string,
    options: { cacheChunks?: number } = {},
  ): Promise<RandomAccessSource> {
    return new LayerRandomAccess(
      this.store,
      await this.store.readLayerManifest(layerId),
      options.cacheChunks ?? 8,
    );
  }

  /**
   * Records a complete restore point. Call it last, after every layer it names was written or reused: it
   * checks that each layer exists and is the one described (size, SHA-256), and never overwrites. Pass the
   * backup's session: a session that lost its lease refuses (SessionLostError).
   */
  async writeRestorePoint(
    input: RestorePointInput,
    options: { session?: WriterSession } = {},
  ): Promise<RestorePointManifest> {
    const parsed = restorePointInputSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RepositoryError(`invalid restore point: ${issue?.path.join(".")}: ${issue?.message}`);
    }
    const manifest: RestorePointManifest = {
      ...parsed.data,
      version: 1,
      id: checkObjectId(parsed.data.id ?? randomUUID(), "restore point id"),
      createdAt: parsed.data.createdAt ?? new Date().toISOString(),
      state: "complete",
    };
    for (const disk of manifest.disks) {
      for (const [i, layer] of disk.layers.entries()) {
        const below = disk.layers[i - 1];
        if (below && layer.parentImageId !== below.imageId)
          throw new RepositoryError(
            `disk ${disk.diskId}: layer ${layer.imageId} backs onto ${layer.parentImageId}, not on the layer before it (${below.imageId})`,
          );
        const m = await this.store.readLayerManifest(layer.layerId);
        if (m.sha256 !== layer.sha256 || m.size !== layer.size)
          throw new RepositoryError(
            `disk ${disk.diskId}: layer ${layer.layerId} holds ${m.size} bytes with SHA-256 ${m.sha256}, not ${layer.size} bytes with ${layer.sha256}`,
          );
      }
    }
    // The session that wrote the layers must still protect them: a lost one may have seen them reclaimed.
    options.session?.assertHeld();
    if (!(await this.store.writeRestorePoint(manifest)))
      throw new RepositoryError(`restore point ${manifest.id} already exists in ${this.location}`);
    return manifest;
  }

  readRestorePoint(id: string): Promise<RestorePointManifest> {
    return this.store.readRestorePoint(id);
  }

  /** Every restore point, oldest first. Throws on an unreadable one (verify lists them all). */
  async listRestorePoints(): Promise<RestorePointManifest[]> {
    const points: RestorePointManifest[] = [];
    for await (const { id } of this.store.ids(KEYS.points))
      points.push(await this.store.readRestorePoint(id));
    return points.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Removes a restore point; its layers and chunks go at the next gc unless another restore point uses them. */
  deleteRestorePoint(id: string): Promise<boolean> {
    return this.store.backend.delete(KEYS.point(checkObjectId(id, "restore point id")));
  }

  /**
   * Re-reads and re-hashes every chunk of one restore point (or of the whole repository), reporting each bad
   * or missing chunk with the layers and restore points it breaks; with `quarantine`, corrupt chunks are moved
   * aside so that the next backup of their data stores them again.
   */
  verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    return verifyRepository(this.store, options);
  }

  /**
   * Deletes chunks and orphan layer manifests nothing references, keeping anything written or used within
   * the grace period or since the start of the oldest open writer session.
   */
  gc(options: GcOptions = {}): Promise<GcReport> {
    return collectGarbage(this.store, options);
  }

  async stats(): Promise<RepositoryStats> {
    let chunks = 0;
    let storedBytes = 0;
    for await (const e of this.store.backend.list(KEYS.chunks)) {
      chunks++;
      storedBytes += e.size;
    }
    let layers = 0;
    for await (const _ of this.store.ids(KEYS.layers)) layers++;
    let restorePoints = 0;
    let logicalBytes = 0;
    let dataBytes = 0;
    const sizes = new Map<string, { size: number; data: number }>();
    for await (const { id } of this.store.ids(KEYS.points)) {
      const point = await this.store.readRestorePoint(id);
      restorePoints++;
      for (const disk of point.disks)
        for (const l of disk.layers) {
          let s = sizes.get(l.layerId);
          if (!s) {
            const m = await this.store.readLayerManifest(l.layerId);
            s = { size: m.size, data: m.dataBytes };
            sizes.set(l.layerId, s);
          }
          logicalBytes += s.size;
          dataBytes += s.data;
        }
    }
    return {
      restorePoints,
      layers,
      chunks,
      storedBytes,
      logicalBytes,
      dataBytes,
      dedupRatio: storedBytes > 0 ? dataBytes / storedBytes : null,
    };
  }
}

/** Opens (or with `create`, creates) the repository at a folder or on a backend, checking the key first. */
export function openRepository(target: string | RepositoryBackend, options: RepositoryOptions = {}) {
  return Repository.open(target, options);
}

async function readConfig(backend: RepositoryBackend): Promise<RepositoryConfig | undefined> {
  let raw: Buffer;
  try {
    raw = await backend.get(KEYS.config, { maxBytes: 64 * 1024 });
  } catch (e) {
    if (e instanceof ObjectNotFoundError) return undefined;
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new CorruptObjectError(`${backend.location}/${KEYS.config}`, "not JSON");
  }
  const parsed = repositoryConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CorruptObjectError(
      `${backend.location}/${KEYS.config}`,
      `${issue?.path.join(".") || "config"}: ${issue?.message} (not a Lifeboat repository of a version this build reads)`,
    );
  }
  return parsed.data;
}

async function createConfig(
  backend: RepositoryBackend,
  options: RepositoryOptions,
): Promise<RepositoryConfig> {
  const chunkSize = chunkSizeSchema.safeParse(options.chunkSize ?? DEFAULT_CHUNK_SIZE);
  if (!chunkSize.success)
    throw new RepositoryError(`chunk size ${options.chunkSize} ${chunkSize.error.issues[0]?.message}`);
  const id = randomUUID();
  const keys = options.key ? deriveKeyRing(options.key, id) : undefined;
  const config: RepositoryConfig = {
    format: "lifeboat-repository",
    version: 1,
    id,
    createdAt: new Date().toISOString(),
    chunkSize: chunkSize.data,
    encryption: keys
      ? { cipher: "aes-256-gcm", kdf: "hkdf-sha256", chunkIds: "hmac-sha256", keyCheck: keyCheckValue(keys) }
      : null,
  };
  if (await backend.put(KEYS.config, Buffer.from(`${JSON.stringify(config, null, 2)}\n`), { ifAbsent: true }))
    return config;
  // Someone created it at the same moment: theirs wins.
  const theirs = await readConfig(backend);
  if (!theirs) throw new RepositoryError(`cannot create a repository at ${backend.location}`);
  return theirs;
}
