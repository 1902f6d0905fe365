import { randomUUID } from "node:crypto";
import os from "node:os";
import type { z } from "zod";
import { checkObjectId, type RepositoryBackend } from "./backend";
import { ENVELOPE_OVERHEAD, type ObjectFormat, type ObjectKind } from "./envelope";
import {
  ChunkError,
  CorruptObjectError,
  ObjectNotFoundError,
  RepositoryError,
  SessionLostError,
} from "./errors";
import type { ChunkIdFunction } from "./keyring";
import {
  checkLayerEntries,
  type LayerManifest,
  layerManifestSchema,
  type RepositoryConfig,
  type RestorePointManifest,
  restorePointManifestSchema,
  type SessionRecord,
  sessionRecordSchema,
} from "./manifest";

/** Where each kind of object lives. Chunks fan out by id prefix so that no folder (or S3 prefix) grows huge. */
export const KEYS = {
  config: "config.json",
  chunks: "chunks/",
  layers: "layers/",
  points: "points/",
  sessions: "sessions/",
  quarantine: "quarantine/",
  chunk: (id: string) => `chunks/${id.slice(0, 2)}/${id.slice(2, 4)}/${id}`,
  layer: (id: string) => `layers/${id}`,
  point: (id: string) => `points/${id}`,
  session: (id: string) => `sessions/${id}`,
  /** Where verify moves a corrupt chunk: out of the way of dedup, kept for inspection. */
  quarantined: (id: string) => `quarantine/${id}`,
};

/** The chunk id in a chunk key, or undefined for keys that are not chunks. */
export function chunkIdOfKey(key: string): string | undefined {
  const m = /^chunks\/[0-9a-f]{2}\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(key);
  return m?.[1];
}

const MAX_MANIFEST = 512 * 1024 * 1024;
const MAX_SESSION = 64 * 1024;

/**
 * A writer session's lease: gc takes a session that has not been renewed for this long (plus a clock margin)
 * for dead and reclaims what only it protected. The writer renews four times per lease.
 */
export const SESSION_LEASE_MS = 2 * 60_000;
/** Records written before leases existed (or unreadable ones) count as dead after this long without renewal. */
export const SESSION_STALE_MS = 10 * 60_000;

export interface SessionOptions {
  /** The lease (default SESSION_LEASE_MS); tests use short ones. */
  leaseMs?: number;
}

/**
 * A writer's presence in the repository. Everything written or touched while a session is open is newer
 * than its start, and gc never sweeps anything newer than the oldest live session: hold one session for the
 * whole of a backup (all layers, then the restore point).
 *
 * Crash semantics: the session is a lease. A writer that dies stops renewing it; after the lease gc treats the
 * session as dead, deletes its record, and reclaims what only it protected. A living writer therefore never
 * trusts a renewal that came late: once it has gone more than half a lease without one, or finds its record
 * gone, the session is lost for good, and `assertHeld` (called before each layer manifest and restore point is
 * written) refuses — what it wrote may be gone; the backup must start again. Since gc waits a whole lease plus a
 * margin, a session that passes `assertHeld` cannot have been reaped.
 */
export class WriterSession {
  private timer: NodeJS.Timeout | undefined;
  private renewedAt: number;
  private lostBecause: string | undefined;

  constructor(
    private readonly store: ObjectStore,
    readonly id: string,
    readonly startedAt: number,
    readonly leaseMs: number,
  ) {
    this.renewedAt = startedAt;
    this.timer = setInterval(() => void this.renew(), Math.max(250, Math.floor(leaseMs / 4)));
    this.timer.unref();
  }

  get open(): boolean {
    return this.timer !== undefined;
  }

  /** Renews the lease now (a timer does it four times per lease). */
  async renew(): Promise<void> {
    if (!this.open || this.lostBecause !== undefined) return;
    const asked = Date.now();
    this.checkGap(asked);
    if (this.lostBecause !== undefined) return;
    try {
      const found = await this.store.backend.touch(KEYS.session(this.id));
      if (!found) this.lostBecause = "its record is gone (a gc took the writer for dead)";
      else this.renewedAt = asked;
    } catch {
      // A missed renewal only shortens what is left of the lease; the next one retries.
    }
  }

  /** Throws SessionLostError unless the session still holds its lease with at least half of it left. */
  assertHeld(): void {
    if (!this.open) throw new RepositoryError(`writer session ${this.id} is closed`);
    this.checkGap(Date.now());
    if (this.lostBecause !== undefined) throw new SessionLostError(this.id, this.lostBecause);
  }

  private checkGap(now: number): void {
    const gap = now - this.renewedAt;
    if (this.lostBecause === undefined && gap > this.leaseMs / 2)
      this.lostBecause = `its lease was not renewed for ${Math.round(gap / 1000)} s (lease ${Math.round(this.leaseMs / 1000)} s)`;
  }

  async close(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.store.backend.delete(KEYS.session(this.id));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Reads and writes the repository's objects through the envelope; shared by the writer, reader, verify and gc. */
export class ObjectStore {
  constructor(
    readonly backend: RepositoryBackend,
    readonly format: ObjectFormat,
    readonly chunkId: ChunkIdFunction,
    /** The HMAC key of chunk ids when encrypted (the hashing thread needs it), else undefined. */
    readonly chunkIdKey: Buffer | undefined,
    readonly config: RepositoryConfig,
    readonly concurrency: number,
  ) {}

  get location(): string {
    return this.backend.location;
  }

  /**
   * Moves a chunk that failed its checks aside, to `quarantine/<id>`: dedup finds it absent, so the next writer
   * that has its data stores a good copy under the same id. Copy first, then delete: a crash in between leaves the
   * bad chunk in place, and the next verify moves it again (the copy is overwritten). An object too large to be a
   * chunk is deleted without a copy (reading it whole is what the size limit guards against).
   */
  async quarantineChunk(id: string): Promise<void> {
    const key = KEYS.chunk(id);
    try {
      const stored = await this.backend.get(key, { maxBytes: this.config.chunkSize + ENVELOPE_OVERHEAD });
      await this.backend.put(KEYS.quarantined(id), stored);
    } catch (e) {
      if (e instanceof ObjectNotFoundError) return;
      if (!(e instanceof CorruptObjectError)) throw e;
    }
    await this.backend.delete(key);
  }

  /** Reads chunk `id`, which must hold `length` bytes, and checks it against its id. Throws ChunkError. */
  async readChunk(id: string, length: number, layerId?: string, offset?: number): Promise<Buffer> {
    const key = KEYS.chunk(id);
    const fail = (problem: "missing" | "corrupt", detail: string) =>
      new ChunkError(id, problem, detail, layerId, offset);
    let plain: Buffer;
    try {
      const stored = await this.backend.get(key, { maxBytes: length + ENVELOPE_OVERHEAD });
      plain = await this.format.open("chunk", key, stored, length);
    } catch (e) {
      if (e instanceof ObjectNotFoundError) throw fail("missing", "not in the repository");
      if (e instanceof CorruptObjectError) throw fail("corrupt", e.detail);
      throw e;
    }
    if (plain.length !== length)
      throw fail("corrupt", `holds ${plain.length} bytes, the layer expects ${length}`);
    if (this.chunkId(plain) !== id) throw fail("corrupt", "content does not match its id (hash mismatch)");
    return plain;
  }

  private async getObject<T>(kind: ObjectKind, key: string, schema: z.ZodType<T>, max: number): Promise<T> {
    const plain = await this.format.open(kind, key, await this.backend.get(key, { maxBytes: max }), max);
    let json: unknown;
    try {
      json = JSON.parse(plain.toString("utf8"));
    } catch (e) {
      throw new CorruptObjectError(key, `not JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CorruptObjectError(key, `${issue?.path.join(".") || "manifest"}: ${issue?.message}`);
    }
    return parsed.data;
  }

  private async putObject(kind: ObjectKind, key: string, value: unknown, ifAbsent = false): Promise<boolean> {
    const parts = await this.format.seal(kind, key, Buffer.from(JSON.stringify(value)));
    return this.backend.put(key, parts, { ifAbsent });
  }

  async readLayerManifest(layerId: string): Promise<LayerManifest> {
    const key = KEYS.layer(checkObjectId(layerId, "layer id"));
    const m = await this.getObject("layer", key, layerManifestSchema, MAX_MANIFEST);
    if (m.id !== layerId) throw new CorruptObjectError(key, `holds layer ${m.id}`);
    const problem = checkLayerEntries(m);
    if (problem) throw new CorruptObjectError(key, problem);
    return m;
  }

  async writeLayerManifest(m: LayerManifest): Promise<void> {
    if (!(await this.putObject("layer", KEYS.layer(m.id), m, true)))
      throw new RepositoryError(`layer ${m.id} already exists`);
  }

  async readRestorePoint(id: string): Promise<RestorePointManifest> {
    const key = KEYS.point(checkObjectId(id, "restore point id"));
    const m = await this.getObject("point", key, restorePointManifestSchema, MAX_MANIFEST);
    if (m.id !== id) throw new CorruptObjectError(key, `holds restore point ${m.id}`);
    return m;
  }

  /** False when a restore point with this id exists already (it is never overwritten). */
  writeRestorePoint(m: RestorePointManifest): Promise<boolean> {
    return this.putObject("point", KEYS.point(m.id), m, true);
  }

  async *ids(prefix: string): AsyncIterable<{ id: string; key: string; mtimeMs: number; size: number }> {
    for await (const e of this.backend.list(prefix)) {
      const id = e.key.slice(prefix.length);
      if (id.includes("/")) continue;
      yield { id, ...e };
    }
  }

  async openSession(label: string, options: SessionOptions = {}): Promise<WriterSession> {
    const leaseMs = options.leaseMs ?? SESSION_LEASE_MS;
    if (!Number.isInteger(leaseMs) || leaseMs < 1000)
      throw new RepositoryError("a session lease is 1 s or more");
    const id = randomUUID();
    const startedAt = Date.now();
    const record: SessionRecord = { id, label, host: os.hostname(), pid: process.pid, startedAt, leaseMs };
    await this.putSession(record);
    return new WriterSession(this, id, startedAt, leaseMs);
  }

  async putSession(record: SessionRecord): Promise<void> {
    await this.putObject("session", KEYS.session(record.id), record);
  }

  /** A session's record; ObjectNotFoundError once it is closed. */
  readSession(id: string): Promise<SessionRecord> {
    return this.getObject("session", KEYS.session(id), sessionRecordSchema, MAX_SESSION);
  }
}
