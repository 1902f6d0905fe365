import { randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { checkKey, isKey, type ObjectEntry, type ObjectInfo, type RepositoryBackend } from "./backend";
import { Limiter } from "./concurrent";
import { CorruptObjectError, ObjectNotFoundError, RepositoryError } from "./errors";

export interface S3BackendConfig {
  /** The S3 server, e.g. `https://s3.example.com:7480`; omitted: Amazon S3 in `region`. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** Folder inside the bucket (`""` or `site-a/lifeboat`): every object's key starts with it. */
  prefix?: string;
  /** `https://host/bucket/key` instead of `https://bucket.host/key`; most servers other than AWS want it. */
  forcePathStyle?: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Requests in flight at once (default 32). */
  maxConcurrency?: number;
  /** Attempts per request on transient failures (default 5), waiting baseDelayMs, doubling up to maxDelayMs. */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /** A request without an answer for this long fails, as a transient error (default 120 s). */
  requestTimeoutMs?: number;
}

/** What went wrong talking to the object store, in the operator's words. */
export type ObjectStorageProblem =
  | "bucket-missing"
  | "access-denied"
  | "unreachable"
  | "unversioned"
  | "failed";

/** An S3 request failed for good (after retries, when the failure was transient). Never names the secret. */
export class ObjectStorageError extends RepositoryError {
  override name = "ObjectStorageError";
  constructor(
    readonly problem: ObjectStorageProblem,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Parses `s3://BUCKET/PREFIX` and an environment-like record into a configuration (no process.env here). */
export function s3ConfigFromLocation(
  location: string,
  env: Readonly<Record<string, string | undefined>>,
): S3BackendConfig {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(location);
  if (!m?.[1])
    throw new RepositoryError(`${location} is not an S3 location (s3://BUCKET or s3://BUCKET/PREFIX)`);
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new RepositoryError(
      `the S3 repository ${location} needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
    );
  const endpoint = env.LIFEBOAT_S3_ENDPOINT || undefined;
  const pathStyle = env.LIFEBOAT_S3_PATH_STYLE?.trim().toLowerCase();
  let forcePathStyle: boolean;
  if (pathStyle === undefined || pathStyle === "") forcePathStyle = endpoint !== undefined;
  else if (["true", "1", "yes", "on"].includes(pathStyle)) forcePathStyle = true;
  else if (["false", "0", "no", "off"].includes(pathStyle)) forcePathStyle = false;
  else
    throw new RepositoryError(
      `LIFEBOAT_S3_PATH_STYLE must be true or false, not ${JSON.stringify(pathStyle)}`,
    );
  return {
    endpoint,
    region: env.AWS_REGION || "us-east-1",
    bucket: m[1],
    prefix: m[2] ?? "",
    forcePathStyle,
    credentials: {
      accessKeyId,
      secretAccessKey,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    },
  };
}

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const sdkError = (e: unknown): SdkError => (typeof e === "object" && e !== null ? (e as SdkError) : {});
const statusOf = (e: unknown) => sdkError(e).$metadata?.httpStatusCode;
/** RGW often sends no message, so the SDK's name is "UnknownError": the code or the status tell more. */
const codeOf = (e: unknown) => {
  const s = sdkError(e);
  return s.Code ?? (s.name && s.name !== "UnknownError" ? s.name : undefined) ?? s.code;
};

const NETWORK = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE",
  "TimeoutError",
  "RequestTimeout",
]);
const THROTTLED = new Set(["SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"]);

function networkCode(e: unknown): string | undefined {
  for (let x: unknown = e, depth = 0; x && depth < 4; x = (x as { cause?: unknown }).cause, depth++) {
    const s = sdkError(x);
    for (const c of [s.code, s.name, s.Code]) if (c && NETWORK.has(c)) return c;
    if (s.message === "socket hang up") return "ECONNRESET";
  }
  return undefined;
}

/** Worth another attempt: server errors, throttling, lost connections. Never a 4xx (but 429 and 409 below). */
function transient(e: unknown): boolean {
  const status = statusOf(e);
  const code = codeOf(e);
  if (code && THROTTLED.has(code)) return true;
  // AWS: a conditional write raced another one on the same key; it says to retry.
  if (code === "ConditionalRequestConflict") return true;
  if (status !== undefined) return status >= 500 || status === 429;
  return networkCode(e) !== undefined;
}

const absent = (e: unknown) => {
  const code = codeOf(e);
  return code === "NoSuchKey" || code === "NoSuchVersion" || (statusOf(e) === 404 && code !== "NoSuchBucket");
};

/** S3 times have whole seconds (HEAD) or are rounded inconsistently (lists): report the latest they can mean,
 * so that gc never takes an object for older than it is. */
const timeOf = (d: Date | undefined) => (d ? Math.floor(d.getTime() / 1000) * 1000 + 999 : 0);

interface Version {
  key: string;
  versionId: string;
  latest: boolean;
  marker: boolean;
  size: number;
  mtimeMs: number;
}

/**
 * Objects in an S3 bucket (AWS, Ceph RGW, MinIO…), under an optional prefix. The bucket must keep versions
 * (Object Lock buckets always do): a conditional delete removes exactly the version it judged old, so a
 * touch that landed meanwhile (a newer version) survives it. Open with `S3Backend.open`.
 *
 * Every PUT is atomic on the server (an object is absent or whole) and durable once answered; bodies are
 * signed with their SHA-256, which the server checks.
 */
export class S3Backend implements RepositoryBackend {
  readonly location: string;
  private readonly prefix: string;
  private readonly bucket: string;
  private readonly limiter: Limiter;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly where: string;
  /** Whether the server honours `If-None-Match: *` (see put), once probed. */
  private conditionalPuts: Promise<boolean> | undefined;

  private constructor(
    private readonly client: S3Client,
    config: S3BackendConfig,
  ) {
    this.bucket = config.bucket;
    const p = (config.prefix ?? "").replace(/^\/+|\/+$/g, "");
    if (p !== "") checkKey(p);
    this.prefix = p === "" ? "" : `${p}/`;
    this.where = config.endpoint ?? `Amazon S3 (${config.region})`;
    this.location = `s3://${this.bucket}/${this.prefix} at ${this.where}`;
    this.limiter = new Limiter(Math.max(1, config.maxConcurrency ?? 32));
    this.attempts = Math.max(1, config.retry?.attempts ?? 5);
    this.baseDelayMs = config.retry?.baseDelayMs ?? 200;
    this.maxDelayMs = config.retry?.maxDelayMs ?? 10_000;
  }

  /** Connects and checks that the bucket exists, is reachable with these credentials and keeps versions. */
  static async open(config: S3BackendConfig): Promise<S3Backend> {
    let endpoint: string | undefined;
    if (config.endpoint !== undefined) {
      let url: URL;
      try {
        url = new URL(config.endpoint);
      } catch {
        throw new RepositoryError(`the S3 endpoint ${JSON.stringify(config.endpoint)} is not a URL`);
      }
      if (url.protocol !== "http:" && url.protocol !== "https:")
        throw new RepositoryError(`the S3 endpoint ${url.host} must be an http:// or https:// URL`);
      // Credentials in the URL would end up in every message that names the endpoint.
      if (url.username || url.password)
        throw new RepositoryError(
          `the S3 endpoint must not contain credentials (give them as the access key and secret instead): ${url.protocol}//${url.host}`,
        );
      endpoint = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
    }
    const maxSockets = Math.max(1, config.maxConcurrency ?? 32);
    const client = new S3Client({
      endpoint,
      region: config.region,
      forcePathStyle: config.forcePathStyle ?? false,
      credentials: config.credentials,
      // Retries are ours (send): they know which answers are safe to repeat and say what failed.
      maxAttempts: 1,
      // The SDK's default trailing checksums make RGW 16 answer 411 MissingContentLength.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: {
        httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
        httpsAgent: new https.Agent({ keepAlive: true, maxSockets }),
        connectionTimeout: 15_000,
        requestTimeout: config.requestTimeoutMs ?? 120_000,
      },
    });
    const backend = new S3Backend(client, { ...config, endpoint });
    try {
      await backend.send("open", undefined, () =>
        client.send(new HeadBucketCommand({ Bucket: config.bucket })),
      );
      const v = await backend.send("open", undefined, () =>
        client.send(new GetBucketVersioningCommand({ Bucket: config.bucket })),
      );
      if (v.Status !== "Enabled")
        throw new ObjectStorageError(
          "unversioned",
          `bucket ${config.bucket} at ${backend.where} does not keep object versions: Lifeboat's garbage collection needs them to delete safely while backups run; enable versioning on it (aws s3api put-bucket-versioning --bucket ${config.bucket} --versioning-configuration Status=Enabled) or use a bucket created with Object Lock`,
        );
    } catch (e) {
      client.destroy();
      throw e;
    }
    return backend;
  }

  /** Closes the connections. */
  close(): void {
    this.client.destroy();
  }

  private full(key: string): string {
    return this.prefix + checkKey(key);
  }

  /**
   * One request with bounded concurrency and retries: transient failures (5xx, throttling, lost
   * connections) are tried again after an exponential, jittered back-off; anything else fails at once.
   * `attempt` gets the attempt number (1, 2, …).
   */
  private async send<T>(op: string, key: string | undefined, attempt: (n: number) => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await this.limiter.run(() => attempt(n));
      } catch (e) {
        if (e instanceof RepositoryError) throw e;
        if (n >= this.attempts || !transient(e)) throw this.explain(e, op, key, n);
        const cap = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 1));
        await sleep(cap / 2 + Math.random() * (cap / 2));
      }
    }
  }

  /** The failure in words an operator can act on: which endpoint and bucket, what to check. */
  private explain(e: unknown, op: string, key: string | undefined, attempts: number): ObjectStorageError {
    const status = statusOf(e);
    const code = codeOf(e);
    const what =
      key === undefined ? `bucket ${this.bucket}` : `${this.prefix}${key} in bucket ${this.bucket}`;
    const at = `at ${this.where}`;
    const net = status === undefined ? networkCode(e) : undefined;
    if (net)
      return new ObjectStorageError(
        "unreachable",
        `cannot reach the S3 endpoint ${this.where} (bucket ${this.bucket}): ${net} after ${attempts} attempt${attempts === 1 ? "" : "s"}; check the endpoint URL and that the server is up`,
        undefined,
        { cause: e },
      );
    if (code === "NoSuchBucket" || (status === 404 && key === undefined))
      return new ObjectStorageError(
        "bucket-missing",
        `bucket ${this.bucket} does not exist ${at}; create it (with Object Lock or versioning) or fix the bucket name`,
        status,
        { cause: e },
      );
    if (status === 403 || code === "AccessDenied") {
      const why =
        code === "InvalidAccessKeyId"
          ? "the server does not know this access key id"
          : code === "SignatureDoesNotMatch"
            ? "the secret key does not match the access key id"
            : code === "RequestTimeTooSkewed"
              ? "this machine's clock is more than 15 minutes off the server's"
              : `the credentials may not ${op} there`;
      return new ObjectStorageError(
        "access-denied",
        `access denied to ${what} ${at} (${op}): ${why}`,
        status,
        {
          cause: e,
        },
      );
    }
    if (status === 301 || code === "PermanentRedirect" || code === "AuthorizationHeaderMalformed")
      return new ObjectStorageError(
        "failed",
        `bucket ${this.bucket} is not in this region ${at}: set the bucket's region`,
        status,
        { cause: e },
      );
    const message = sdkError(e).message;
    const detail = [code, status && `HTTP ${status}`].filter(Boolean).join(", ");
    return new ObjectStorageError(
      "failed",
      `S3 ${op} of ${what} ${at} failed (${detail || "no answer"})${message && message !== code && message !== "UnknownError" ? `: ${message}` : ""}${transient(e) ? ` after ${attempts} attempts` : ""}`,
      status,
      { cause: e },
    );
  }

  /**
   * Atomic and durable: S3 shows an object only once it is whole and answers only once it is stored.
   *
   * `ifAbsent` sends `If-None-Match: *`, which makes the server refuse to replace an object (412). After a
   * retry, a 412 can be our own earlier attempt that went through unanswered: equal bytes count as stored.
   * Some servers ignore the header on versioned buckets (Ceph RGW 16 does; a probe finds out once): there
   * the oldest version wins: the object is checked before, and after the write every writer that finds an
   * older version than its own removes its own and returns false. Two writers creating the same key at the
   * same moment may then let a reader see the loser's copy for that moment.
   */
  async put(
    key: string,
    data: Buffer | readonly Buffer[],
    options: { ifAbsent?: boolean } = {},
  ): Promise<boolean> {
    // One chunk or manifest, already in memory: a Buffer body is signed with its SHA-256 and can be resent.
    const body = Buffer.isBuffer(data) ? data : Buffer.concat(data);
    if (!options.ifAbsent) {
      await this.putObject(this.full(key), body, false);
      return true;
    }
    this.conditionalPuts ??= this.probeConditionalPut().catch((e) => {
      this.conditionalPuts = undefined; // try again next time
      throw e;
    });
    const honoured = await this.conditionalPuts;
    if (!honoured && (await this.head(key))) return false;
    let attempts = 0;
    let versionId: string | undefined;
    try {
      versionId = await this.putObject(this.full(key), body, true, (n) => {
        attempts = n;
      });
    } catch (e) {
      const cause = e instanceof ObjectStorageError ? e.cause : e;
      if (statusOf(cause) !== 412 && codeOf(cause) !== "PreconditionFailed") throw e;
      if (attempts > 1) {
        const theirs = await this.get(key).catch(() => undefined);
        if (theirs?.equals(body)) return true;
      }
      return false;
    }
    if (honoured || versionId === undefined) return true;
    const versions = await this.versions(key);
    const ours = versions.findIndex((v) => v.versionId === versionId);
    const older = ours < 0 ? [] : versions.slice(ours + 1);
    const lastMarker = older.findIndex((v) => v.marker);
    if (!(lastMarker < 0 ? older : older.slice(0, lastMarker)).some((v) => !v.marker)) return true;
    await this.deleteVersion(key, versionId, { keepLocked: false });
    return false;
  }

  /** Stores `body` under the full key `Key`; resolves to the new version's id. */
  private async putObject(Key: string, body: Buffer, ifAbsent: boolean, onAttempt?: (n: number) => void) {
    const r = await this.send("write", Key.slice(this.prefix.length), (n) => {
      onAttempt?.(n);
      return this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key,
          Body: body,
          ContentLength: body.length,
          ...(ifAbsent ? { IfNoneMatch: "*" } : {}),
        }),
      );
    });
    return r.VersionId;
  }

  /** Does the server refuse a second `If-None-Match: *` write of a key? Tried once, on a name no listing shows. */
  private async probeConditionalPut(): Promise<boolean> {
    const Key = `${this.prefix}.lifeboat-probe-${randomUUID()}`;
    const probe = Buffer.from("probe");
    try {
      await this.putObject(Key, probe, false);
      await this.putObject(Key, probe, true);
      return false;
    } catch (e) {
      const cause = e instanceof ObjectStorageError ? e.cause : e;
      if (statusOf(cause) === 412 || codeOf(cause) === "PreconditionFailed") return true;
      throw e;
    } finally {
      for await (const v of this.listVersions(Key))
        if (v.key === Key.slice(this.prefix.length))
          await this.send("delete", undefined, () =>
            this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key, VersionId: v.versionId })),
          );
    }
  }

  async get(key: string, options: { maxBytes?: number } = {}): Promise<Buffer> {
    const Key = this.full(key);
    try {
      return await this.send("read", key, async () => {
        const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
        const body = r.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
        const max = options.maxBytes;
        const tooBig = (n: number) => {
          body?.destroy?.();
          return new CorruptObjectError(key, `${n} bytes, more than the ${max} an object of its kind can be`);
        };
        if (max !== undefined && r.ContentLength !== undefined && r.ContentLength > max)
          throw tooBig(r.ContentLength);
        if (!body) return Buffer.alloc(0);
        const parts: Buffer[] = [];
        let n = 0;
        for await (const part of body) {
          n += part.length;
          if (max !== undefined && n > max) throw tooBig(n);
          parts.push(Buffer.from(part.buffer, part.byteOffset, part.length));
        }
        return Buffer.concat(parts, n);
      });
    } catch (e) {
      if (e instanceof ObjectStorageError && absent(e.cause)) throw new ObjectNotFoundError(key);
      throw e;
    }
  }

  async has(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const h = await this.head(key);
    return h && { size: h.size, mtimeMs: h.mtimeMs };
  }

  private async head(key: string, versionId?: string) {
    const Key = this.full(key);
    try {
      const r = await this.send("read", key, () =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key, VersionId: versionId })),
      );
      return { size: r.ContentLength ?? 0, mtimeMs: timeOf(r.LastModified), versionId: r.VersionId };
    } catch (e) {
      if (e instanceof ObjectStorageError && absent(e.cause)) return undefined;
      throw e;
    }
  }

  /**
   * S3 cannot change an object's time: the object is copied onto itself (a new version, dated now), then the
   * version it was copied from is deleted. The copy names that exact version, so if a conditional delete
   * removed it first the copy fails and the object counts as absent (the writer stores it again).
   */
  async touch(key: string): Promise<ObjectInfo | undefined> {
    const Key = this.full(key);
    for (let round = 0; round < 3; round++) {
      const h = await this.head(key);
      if (!h) return undefined;
      const source = `${this.bucket}/${Key}${h.versionId ? `?versionId=${encodeURIComponent(h.versionId)}` : ""}`;
      let copied: { VersionId?: string; CopyObjectResult?: { LastModified?: Date } };
      try {
        copied = await this.send("write", key, () =>
          this.client.send(
            new CopyObjectCommand({
              Bucket: this.bucket,
              Key,
              CopySource: source,
              // Copying an object onto itself is allowed only with new metadata.
              MetadataDirective: "REPLACE",
              Metadata: { "lifeboat-touched": new Date().toISOString() },
            }),
          ),
        );
      } catch (e) {
        // That version went meanwhile (another touch, or a delete): look again.
        if (e instanceof ObjectStorageError && absent(e.cause)) continue;
        throw e;
      }
      if (h.versionId && h.versionId !== "null" && h.versionId !== copied.VersionId)
        await this.deleteVersion(key, h.versionId);
      return { size: h.size, mtimeMs: timeOf(copied.CopyObjectResult?.LastModified) };
    }
    return undefined;
  }

  /** Removes one version; a version under Object Lock retention stays (it goes once its retention ends). */
  private async deleteVersion(key: string, versionId: string, opts: { keepLocked?: boolean } = {}) {
    try {
      await this.send("delete", key, () =>
        this.client.send(
          new DeleteObjectCommand({ Bucket: this.bucket, Key: this.full(key), VersionId: versionId }),
        ),
      );
      return true;
    } catch (e) {
      if (e instanceof ObjectStorageError && e.problem === "access-denied" && (opts.keepLocked ?? true))
        return false;
      if (e instanceof ObjectStorageError && absent(e.cause)) return false;
      throw e;
    }
  }

  /** Every version and delete marker of exactly `key`, newest first. */
  private async versions(key: string): Promise<Version[]> {
    const out: Version[] = [];
    for await (const v of this.listVersions(this.full(key))) if (v.key === key) out.push(v);
    return out;
  }

  private async *listVersions(prefix: string): AsyncIterable<Version> {
    let KeyMarker: string | undefined;
    let VersionIdMarker: string | undefined;
    do {
      const r = await this.send("list", undefined, () =>
        this.client.send(
          new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker, VersionIdMarker }),
        ),
      );
      const all: Version[] = [];
      for (const v of r.Versions ?? [])
        if (v.Key && v.VersionId)
          all.push({
            key: v.Key.slice(this.prefix.length),
            versionId: v.VersionId,
            latest: v.IsLatest ?? false,
            marker: false,
            size: v.Size ?? 0,
            mtimeMs: timeOf(v.LastModified),
          });
      for (const d of r.DeleteMarkers ?? [])
        if (d.Key && d.VersionId)
          all.push({
            key: d.Key.slice(this.prefix.length),
            versionId: d.VersionId,
            latest: d.IsLatest ?? false,
            marker: true,
            size: 0,
            mtimeMs: timeOf(d.LastModified),
          });
      yield* all.sort((a, b) => (a.key === b.key ? b.mtimeMs - a.mtimeMs : a.key < b.key ? -1 : 1));
      KeyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
      VersionIdMarker = r.IsTruncated ? r.NextVersionIdMarker : undefined;
    } while (KeyMarker !== undefined);
  }

  /**
   * Removes every version of the object (not a delete marker, which would keep the bytes): true when it
   * existed. A version under Object Lock retention cannot be removed: that is an access-denied error.
   */
  async delete(key: string): Promise<boolean> {
    const versions = await this.versions(key);
    const existed = versions.some((v) => v.latest && !v.marker);
    // Older versions first: removing the newest first would show an older one for a moment.
    for (const v of [...versions].reverse())
      await this.deleteVersion(key, v.versionId, { keepLocked: false });
    return existed;
  }

  /**
   * Removes the object's newest version only if it is older than `cutoffMs`, by its version id: a touch or
   * put that landed before made a newer version, which stays (then the object is reported kept). Older
   * versions go first, so that nothing older shows up in its place. A touch whose copy had already read the
   * removed version can land after the final check: the object then stays although its size is reported
   * freed (the sweep miscounts; nothing a writer touched is lost).
   */
  async deleteIfUnmodifiedSince(key: string, cutoffMs: number): Promise<number | undefined> {
    const versions = await this.versions(key);
    const newest = versions.find((v) => v.latest);
    if (!newest || newest.marker || newest.mtimeMs >= cutoffMs) return undefined;
    for (const v of versions.filter((v) => v !== newest).reverse())
      await this.deleteVersion(key, v.versionId);
    if (!(await this.deleteVersion(key, newest.versionId, { keepLocked: false }))) return undefined;
    if (await this.head(key)) return undefined; // a writer stored or touched it meanwhile: it stays
    return newest.size;
  }

  async *list(prefix: string): AsyncIterable<ObjectEntry> {
    if (prefix !== "" && !prefix.endsWith("/")) throw new Error(`list prefix must end with '/': ${prefix}`);
    const Prefix = prefix === "" ? this.prefix : `${this.full(prefix.slice(0, -1))}/`;
    let ContinuationToken: string | undefined;
    do {
      const r = await this.send("list", undefined, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix, ContinuationToken })),
      );
      for (const o of r.Contents ?? []) {
        const key = o.Key?.slice(this.prefix.length);
        // Not one of ours (a console's "folder" object, a foreign name): leave it out.
        if (key === undefined || !isKey(key)) continue;
        yield { key, size: o.Size ?? 0, mtimeMs: timeOf(o.LastModified) };
      }
      ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (ContinuationToken !== undefined);
  }

  /**
   * Aborts multipart uploads started before `cutoffMs` (this backend starts none; other tools or a future
   * large-object path may), and removes what interrupted touches and deletes left behind: older versions of
   * objects, and objects whose newest version is a delete marker (their older versions first). Versions
   * under Object Lock retention stay.
   */
  async sweepIncomplete(cutoffMs: number): Promise<{ count: number; bytes: number }> {
    let count = 0;
    let bytes = 0;
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    do {
      const r = await this.send("list", undefined, () =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.prefix,
            KeyMarker,
            UploadIdMarker,
          }),
        ),
      );
      for (const u of r.Uploads ?? []) {
        if (!u.Key || !u.UploadId || (u.Initiated?.getTime() ?? 0) >= cutoffMs) continue;
        await this.send("delete", u.Key, () =>
          this.client.send(
            new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
          ),
        );
        count++;
      }
      KeyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
      UploadIdMarker = r.IsTruncated ? r.NextUploadIdMarker : undefined;
    } while (KeyMarker !== undefined);

    const markers: Version[] = [];
    /** Keys with an older version kept (recent, or locked): their delete marker must stay too. */
    const kept = new Set<string>();
    for await (const v of this.listVersions(this.prefix)) {
      if (!isKey(v.key)) continue;
      if (v.latest && v.marker) {
        if (v.mtimeMs < cutoffMs) markers.push(v);
        continue;
      }
      if (v.latest) continue;
      if (v.mtimeMs < cutoffMs && (await this.deleteVersion(v.key, v.versionId))) {
        count++;
        bytes += v.size;
      } else kept.add(v.key);
    }
    // Delete markers last, and only over nothing: removing one over an older version would bring it back.
    for (const m of markers) if (!kept.has(m.key) && (await this.deleteVersion(m.key, m.versionId))) count++;
    return { count, bytes };
  }
}
