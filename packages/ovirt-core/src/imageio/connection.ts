import { Client, type Dispatcher } from "undici";
import { describeNetworkError, isTransientNetworkError, type TlsOptions, tlsConnectOptions } from "../http";
import { AbortedError, backoffDelay, sleep } from "../wait";
import { httpError, ImageioError } from "./errors";

export interface ConnectionSettings {
  origin: string;
  tls: TlsOptions;
  connectTimeoutMs: number;
  /** Headers and body inactivity timeout. */
  timeoutMs: number;
}

/** Longest error text kept from a server (imageio sends one line). */
const MAX_ERROR_TEXT = 4096;

/**
 * One keep-alive HTTPS connection to an imageio server. Each worker owns one, as the upstream client does; a
 * broken connection is replaced by a fresh one before a retry.
 */
export class ImageioConnection {
  private client: Client;
  /** Set once this connection has written data (it then owes the server a flush). */
  wrote = false;

  constructor(private readonly settings: ConnectionSettings) {
    this.client = this.newClient();
  }

  request(opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    return this.client.request(opts);
  }

  /** Drops the current socket and starts over with a new one. */
  async renew(): Promise<void> {
    const old = this.client;
    this.client = this.newClient();
    await old.destroy().catch(() => undefined);
  }

  /** Closes gracefully (waits for the socket to end), or at once with `force`. */
  async close(force = false): Promise<void> {
    if (force) await this.client.destroy().catch(() => undefined);
    else await this.client.close().catch(() => this.client.destroy().catch(() => undefined));
  }

  private newClient(): Client {
    return new Client(this.settings.origin, {
      connect: tlsConnectOptions(this.settings.tls, this.settings.connectTimeoutMs),
      pipelining: 1,
      headersTimeout: this.settings.timeoutMs,
      bodyTimeout: this.settings.timeoutMs,
      keepAliveTimeout: 30_000,
    });
  }
}

/** A fixed number of connections handed out one request at a time, created lazily. */
export class ConnectionPool {
  private readonly all: ImageioConnection[] = [];
  private readonly idle: ImageioConnection[] = [];
  private readonly waiters: Array<(c: ImageioConnection) => void> = [];

  constructor(
    private readonly settings: ConnectionSettings,
    readonly size: number,
  ) {}

  get connections(): readonly ImageioConnection[] {
    return this.all;
  }

  async acquire(signal: AbortSignal): Promise<ImageioConnection> {
    if (signal.aborted) throw new AbortedError(signal.reason);
    const c = this.idle.pop();
    if (c) return c;
    if (this.all.length < this.size) {
      const fresh = new ImageioConnection(this.settings);
      this.all.push(fresh);
      return fresh;
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(take);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new AbortedError(signal.reason));
      };
      const take = (conn: ImageioConnection) => {
        signal.removeEventListener("abort", onAbort);
        resolve(conn);
      };
      this.waiters.push(take);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  release(c: ImageioConnection): void {
    const w = this.waiters.shift();
    if (w) w(c);
    else this.idle.push(c);
  }

  /** Runs `fn` on a pooled connection with retries (see withRetries). */
  async run<T>(
    fn: (c: ImageioConnection) => Promise<T>,
    signal: AbortSignal,
    retry: RetryPolicy,
  ): Promise<T> {
    const conn = await this.acquire(signal);
    try {
      return await withRetries(conn, fn, signal, retry);
    } finally {
      this.release(conn);
    }
  }

  /** Closes every connection; `force` destroys sockets with requests in flight. */
  async close(force = false): Promise<void> {
    await Promise.all(this.all.map((c) => c.close(force)));
  }
}

export interface RetryPolicy {
  /** Extra attempts after the first. */
  retries: number;
  delayMs: number;
  logger?: (line: string) => void;
}

/**
 * Runs one range operation; when it fails mid-way (connection reset, truncated body, timeout, 5xx) it is repeated
 * from its start on a fresh connection, a bounded number of times. Other HTTP errors (400, 403, 416) fail at once.
 */
export async function withRetries<T>(
  conn: ImageioConnection,
  fn: (c: ImageioConnection) => Promise<T>,
  signal: AbortSignal,
  retry: RetryPolicy,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(conn);
    } catch (e) {
      if (signal.aborted) throw new AbortedError(signal.reason);
      const err = toImageioError(e);
      if (!err.retryable || attempt >= retry.retries) throw err;
      retry.logger?.(`${err.message}; retrying (${attempt + 1}/${retry.retries})`);
      await conn.renew();
      await sleep(backoffDelay(attempt, retry.delayMs, retry.delayMs * 16), signal);
    }
  }
}

/** Maps what undici throws to an ImageioError (network failures are retryable unless TLS/config errors). */
export function toImageioError(e: unknown): ImageioError {
  if (e instanceof ImageioError) return e;
  return new ImageioError({
    status: 0,
    message: describeNetworkError(e),
    retryable: isTransientNetworkError(e),
    cause: e,
  });
}

/** Reads an error answer's text (first line, bounded) and builds the ImageioError for it. */
export async function errorFromResponse(res: Dispatcher.ResponseData, what: string): Promise<ImageioError> {
  const text = await readLimited(res.body, MAX_ERROR_TEXT).catch(() => "");
  const line = text
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l !== "");
  return httpError(res.statusCode, line, what);
}

/** Reads at most `limit` bytes of a body as text; the rest is discarded with the connection. */
export async function readLimited(body: Dispatcher.ResponseData["body"], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    if (n + b.length > limit) {
      chunks.push(b.subarray(0, limit - n));
      n = limit;
      body.destroy();
      break;
    }
    chunks.push(b);
    n += b.length;
  }
  return Buffer.concat(chunks).toString("utf8");
}
