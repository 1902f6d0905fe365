import { openSecret } from "@lifeboat/config";
import type { Db, Engine } from "@lifeboat/db";
import {
  EngineClient,
  EngineError,
  type EngineRetryOptions,
  type ImageioSettings,
} from "@lifeboat/ovirt-core";
import { AppError } from "./errors";

/** A client of one registered engine, with the imageio settings of its transfers. Close it when done. */
export interface EngineConnection {
  row: Engine;
  engine: EngineClient;
  imageio: ImageioSettings;
  close(): Promise<void>;
}

export interface EngineConnectOptions {
  /** Receives the client's retry and re-login lines (never credentials). */
  logger?: (line: string) => void;
  /** Data connections per image transfer (default: the client's). */
  imageioWorkers?: number;
  /** The key that sealed the engine passwords (`DomainConfig.encryptionKey`). */
  encryptionKey: Buffer | null;
  /** Retries of idempotent calls (default: the client's); interactive calls retry less than jobs. */
  retry?: EngineRetryOptions;
  connectTimeoutMs?: number;
}

/** The embedded simulated engine is local and quick: its waits poll often. A real engine is polled every 2 s. */
const SIMULATED_POLL_MS = 100;

/** The key that seals engine passwords, or PRECONDITION_FAILED when the process has none. */
export function sealingKey(key: Buffer | null): Buffer {
  if (key) return key;
  throw new AppError(
    "PRECONDITION_FAILED",
    "LIFEBOAT_ENCRYPTION_KEY is not set, so the engine passwords cannot be opened.",
  );
}

/** A client for an engine row (its sealed password opened here, in the server process only). */
export function engineConnection(row: Engine, opts: EngineConnectOptions): EngineConnection {
  if (!row.enabled)
    throw new AppError("PRECONDITION_FAILED", `The engine ${row.name} is disabled in Lifeboat's settings.`);
  const password = openSecret(row.secretSealed, sealingKey(opts.encryptionKey));
  const tls = { caPem: row.caPem ?? undefined, insecure: row.insecure };
  const engine = new EngineClient({
    url: row.apiUrl,
    username: row.username,
    password,
    ...tls,
    ...(row.simulated ? { pollIntervalMs: SIMULATED_POLL_MS } : {}),
    ...(opts.retry ? { retry: opts.retry } : {}),
    ...(opts.connectTimeoutMs ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    logger: opts.logger,
  });
  return {
    row,
    engine,
    imageio: { ...tls, ...(opts.imageioWorkers ? { workers: opts.imageioWorkers } : {}) },
    close: () => engine.close(),
  };
}

/** Connects to a registered engine by id; NOT_FOUND when it is not registered. */
export async function connectEngine(
  db: Db,
  engineId: string,
  opts: EngineConnectOptions,
): Promise<EngineConnection> {
  const row = await db.engine.findUnique({ where: { id: engineId } });
  if (!row) throw new AppError("NOT_FOUND", "No such engine.");
  return engineConnection(row, opts);
}

/** Runs `fn` with a client of the engine, closing it afterwards. */
export async function withEngine<T>(
  db: Db,
  engineId: string,
  fn: (c: EngineConnection) => Promise<T>,
  opts: EngineConnectOptions,
): Promise<T> {
  const c = await connectEngine(db, engineId, opts);
  try {
    return await fn(c);
  } finally {
    await c.close().catch(() => undefined);
  }
}

/**
 * An engine failure as an error for the API caller: the engine's own words (reason and detail) when it answered,
 * ENGINE_UNREACHABLE when it did not. Anything else is passed on unchanged.
 */
export function engineAppError(e: unknown, engineName: string): unknown {
  if (e instanceof AppError) return e;
  if (e instanceof EngineError) {
    if (e.status === 0)
      return new AppError("ENGINE_UNREACHABLE", `The engine ${engineName} cannot be reached: ${e.message}`);
    return new AppError("ENGINE_ERROR", `The engine ${engineName} answered: ${e.message}`, {
      status: e.status,
      reason: e.reason ?? null,
      detail: e.detail ?? null,
    });
  }
  return e;
}
