import { RepositoryError } from "./errors";

/**
 * Where the repository's objects live. Keys are `/`-separated names (`chunks/ab/cd/<id>`, `layers/<id>`);
 * every implementation (local directory today, S3-compatible object storage next) offers the same
 * semantics, so nothing above this interface knows about files, renames or temp names.
 */
export interface RepositoryBackend {
  /** Human-readable location for messages (a folder, a bucket URL). Never contains credentials. */
  readonly location: string;

  /**
   * Stores `data` under `key` atomically and durably: when the promise resolves the object survives a crash,
   * and a reader never sees a partial object. With `ifAbsent`, an existing object is left alone and the
   * result is false.
   */
  put(key: string, data: Buffer | readonly Buffer[], options?: { ifAbsent?: boolean }): Promise<boolean>;

  /** The object's bytes; ObjectNotFoundError when absent, CorruptObjectError when larger than `maxBytes`. */
  get(key: string, options?: { maxBytes?: number }): Promise<Buffer>;

  has(key: string): Promise<boolean>;

  stat(key: string): Promise<ObjectInfo | undefined>;

  /** Marks the object as used now (its `mtimeMs` becomes the current time); undefined when absent. */
  touch(key: string): Promise<ObjectInfo | undefined>;

  /** True when something was deleted. */
  delete(key: string): Promise<boolean>;

  /**
   * Deletes the object only if it was not written or touched at or after `cutoffMs`, atomically with respect
   * to a concurrent `touch`/`put`: a writer that touched the object in time keeps it. Returns the size freed,
   * or undefined when the object was kept or absent.
   */
  deleteIfUnmodifiedSince(key: string, cutoffMs: number): Promise<number | undefined>;

  /** Every complete object whose key starts with `prefix` (which ends with `/`), in no particular order. */
  list(prefix: string): AsyncIterable<ObjectEntry>;

  /**
   * Housekeeping for writes and deletes cut short by a crash: discards incomplete uploads last written before
   * `cutoffMs` and finishes interrupted conditional deletes. Returns what was discarded.
   */
  sweepIncomplete(cutoffMs: number): Promise<{ count: number; bytes: number }>;
}

export interface ObjectInfo {
  size: number;
  /** Last write or touch, ms since the epoch. */
  mtimeMs: number;
}

export interface ObjectEntry extends ObjectInfo {
  key: string;
}

const KEY = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

/** Keys never start a segment with a dot (temp names do) and never contain `..`; at most 1024 characters. */
export function isKey(key: string): boolean {
  return key.length <= 1024 && KEY.test(key);
}

export function checkKey(key: string): string {
  if (!isKey(key)) throw new Error(`invalid repository object key: ${JSON.stringify(key)}`);
  return key;
}

/** An id used as the last segment of a key: restore point and layer ids chosen by callers. */
export function checkObjectId(id: string, what: string): string {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(id))
    throw new RepositoryError(`${what} ${JSON.stringify(id)} must be 1-128 letters, digits, '.', '_' or '-'`);
  return id;
}
