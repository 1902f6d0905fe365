/** Base class: every error the repository raises carries words an operator can act on. */
export class RepositoryError extends Error {
  override name = "RepositoryError";
}

/** The key is missing, malformed or not the repository's key. Raised before anything else is read. */
export class RepositoryKeyError extends RepositoryError {
  override name = "RepositoryKeyError";
}

/** An object the repository needs is not in the backend. */
export class ObjectNotFoundError extends RepositoryError {
  override name = "ObjectNotFoundError";
  constructor(readonly key: string) {
    super(`${key} is missing`);
  }
}

/** A stored object fails its checks (truncated, bad header, authentication or hash mismatch, bad JSON). */
export class CorruptObjectError extends RepositoryError {
  override name = "CorruptObjectError";
  constructor(
    readonly key: string,
    readonly detail: string,
  ) {
    super(`${key} is corrupt: ${detail}`);
  }
}

/** The backend has no room left (ENOSPC, or the quota): the write was undone, nothing half-written is kept. */
export class RepositoryFullError extends RepositoryError {
  override name = "RepositoryFullError";
  constructor(
    readonly location: string,
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the repository at ${location} is full (no space left writing ${key}): free space there or run gc (it reclaims what failed backups left, once their writer session is closed or its lease ran out), then retry; nothing half-written was kept`,
      options,
    );
  }
}

/** A writer session lost its lease: gc may have reclaimed what it wrote, so nothing more is recorded under it. */
export class SessionLostError extends RepositoryError {
  override name = "SessionLostError";
  constructor(
    readonly sessionId: string,
    readonly detail: string,
  ) {
    super(
      `the repository writer session ${sessionId} lost its lease (${detail}): what it wrote may have been reclaimed, so it records nothing more; run the backup again`,
    );
  }
}

export type ChunkProblem = "missing" | "corrupt";

/** A chunk of a layer cannot be read back as stored: the read of that layer refuses to go on. */
export class ChunkError extends RepositoryError {
  override name = "ChunkError";
  constructor(
    readonly chunkId: string,
    readonly problem: ChunkProblem,
    readonly detail: string,
    readonly layerId?: string,
    readonly offset?: number,
  ) {
    const where =
      layerId === undefined
        ? ""
        : ` of layer ${layerId}${offset === undefined ? "" : ` at offset ${offset}`}`;
    super(`chunk ${chunkId}${where} is ${problem}: ${detail}`);
  }
}
