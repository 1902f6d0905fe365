import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterEach, inject } from "vitest";
import {
  LocalDirectoryBackend,
  type ObjectEntry,
  type ObjectInfo,
  type RepositoryBackend,
  S3Backend,
  type S3BackendConfig,
  s3ConfigFromLocation,
} from "../src";
import { tempDir } from "./helpers";

/** A backend the backend-agnostic tests run against. */
export interface BackendUnderTest {
  name: "local" | "s3";
  /** A new, empty place for one test's repository. */
  fresh(): Promise<RepositoryBackend>;
  /** Makes objects look last written `ms` ago (all of them, or `keys`). */
  age(backend: RepositoryBackend, ms: number, keys?: string[]): Promise<void>;
  /** Leaves what a write of `key` cut short by a crash leaves (a temp file; a multipart upload), long ago. */
  interruptWrite(backend: RepositoryBackend, key: string, data: Buffer): Promise<void>;
  /** How many such leftovers there are. */
  leftovers(backend: RepositoryBackend): Promise<number>;
}

async function allKeys(backend: RepositoryBackend): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of backend.list("")) keys.push(e.key);
  return keys;
}

const local: BackendUnderTest = {
  name: "local",
  fresh: async () => new LocalDirectoryBackend(await tempDir()),
  async age(backend, ms, keys) {
    if (!(backend instanceof LocalDirectoryBackend)) throw new Error("not a local backend");
    const t = new Date(Date.now() - ms);
    for (const key of keys ?? (await allKeys(backend))) await fs.utimes(path.join(backend.root, key), t, t);
  },
  async interruptWrite(backend, key, data) {
    if (!(backend instanceof LocalDirectoryBackend)) throw new Error("not a local backend");
    const file = path.join(backend.root, key);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.0123456789ab.tmp`);
    await fs.writeFile(temp, data);
    const t = new Date(Date.now() - 2 * 3600_000);
    await fs.utimes(temp, t, t);
  },
  async leftovers(backend) {
    if (!(backend instanceof LocalDirectoryBackend)) throw new Error("not a local backend");
    const names = await fs.readdir(backend.root, { recursive: true });
    return names.filter((n) => /\.(tmp|trash)$/.test(n)).length;
  },
};

const opened: S3Backend[] = [];
const configs = new WeakMap<RepositoryBackend, S3BackendConfig>();
afterEach(() => {
  for (const b of opened.splice(0)) b.close();
});

/** The settings of the test RGW (see s3-server.ts); fails the calling test when it did not start. */
export function s3TestConfig(prefix = `t-${randomUUID()}`): S3BackendConfig {
  const s3 = inject("s3");
  if ("error" in s3) throw new Error(s3.error);
  const bucket = s3.env.LIFEBOAT_S3_BUCKET;
  return s3ConfigFromLocation(`s3://${bucket}/${prefix}`, s3.env);
}

export async function openS3(config: S3BackendConfig = s3TestConfig()): Promise<S3Backend> {
  const b = await S3Backend.open(config);
  opened.push(b);
  return b;
}

/**
 * S3 has no way to set an object's time, so tests look at an S3 backend through this: objects aged by the
 * test report times that much older, and a conditional delete moves its cutoff by the same amount, so the
 * real S3 conditional delete decides. A write or touch makes the object new again.
 */
class AgedBackend implements RepositoryBackend {
  readonly offsets = new Map<string, number>();
  constructor(readonly inner: S3Backend) {}
  get location() {
    return this.inner.location;
  }
  private shift<T extends ObjectInfo | undefined>(key: string, info: T): T {
    return (info && { ...info, mtimeMs: info.mtimeMs - (this.offsets.get(key) ?? 0) }) as T;
  }
  async put(key: string, data: Buffer | readonly Buffer[], options?: { ifAbsent?: boolean }) {
    const stored = await this.inner.put(key, data, options);
    if (stored) this.offsets.delete(key);
    return stored;
  }
  get(key: string, options?: { maxBytes?: number }) {
    return this.inner.get(key, options);
  }
  has(key: string) {
    return this.inner.has(key);
  }
  async stat(key: string) {
    return this.shift(key, await this.inner.stat(key));
  }
  async touch(key: string) {
    const info = await this.inner.touch(key);
    if (info) this.offsets.delete(key);
    return info;
  }
  async delete(key: string) {
    this.offsets.delete(key);
    return this.inner.delete(key);
  }
  deleteIfUnmodifiedSince(key: string, cutoffMs: number) {
    return this.inner.deleteIfUnmodifiedSince(key, cutoffMs + (this.offsets.get(key) ?? 0));
  }
  async *list(prefix: string): AsyncIterable<ObjectEntry> {
    for await (const e of this.inner.list(prefix)) yield this.shift(e.key, e);
  }
  sweepIncomplete(cutoffMs: number) {
    return this.inner.sweepIncomplete(cutoffMs);
  }
}

/** A plain SDK client on the test RGW, for what the backend never does (multipart uploads). */
function sdk(config: S3BackendConfig): S3Client {
  return new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: true,
    credentials: config.credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

const s3: BackendUnderTest = {
  name: "s3",
  async fresh() {
    const config = s3TestConfig();
    const backend = new AgedBackend(await openS3(config));
    configs.set(backend, config);
    return backend;
  },
  async interruptWrite(backend, key, data) {
    const config = configs.get(backend);
    if (!config) throw new Error("not an S3 test backend");
    const client = sdk(config);
    const Key = `${config.prefix}/${key}`;
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: config.bucket, Key }));
    await client.send(
      new UploadPartCommand({ Bucket: config.bucket, Key, UploadId, PartNumber: 1, Body: data }),
    );
    client.destroy();
  },
  async leftovers(backend) {
    const config = configs.get(backend);
    if (!config) throw new Error("not an S3 test backend");
    const client = sdk(config);
    const r = await client.send(
      new ListMultipartUploadsCommand({ Bucket: config.bucket, Prefix: `${config.prefix}/` }),
    );
    client.destroy();
    return r.Uploads?.length ?? 0;
  },
  async age(backend, ms, keys) {
    if (!(backend instanceof AgedBackend)) throw new Error("not an S3 test backend");
    for (const key of keys ?? (await allKeys(backend)))
      backend.offsets.set(key, (backend.offsets.get(key) ?? 0) + ms);
  },
};

export const BACKENDS: BackendUnderTest[] = [local, s3];

/** Keys of the stored chunks, sorted. */
export async function chunkKeys(backend: RepositoryBackend): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of backend.list("chunks/")) keys.push(e.key);
  return keys.sort();
}

/** Rewrites a stored object's bytes (a damaged disk, a bad copy), keeping no older version of it on S3. */
export async function damage(backend: RepositoryBackend, key: string, fn: (b: Buffer) => Buffer) {
  const bytes = fn(Buffer.from(await backend.get(key)));
  await backend.delete(key);
  await backend.put(key, bytes);
}
