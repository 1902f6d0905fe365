import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { inspect } from "node:util";
import { CreateBucketCommand, ListObjectVersionsCommand, S3Client } from "@aws-sdk/client-s3";
import { afterEach, describe, expect, it } from "vitest";
import {
  ObjectNotFoundError,
  ObjectStorageError,
  openRepository,
  type S3BackendConfig,
  s3ConfigFromLocation,
} from "../src";
import { KEYS } from "../src/store";
import { openS3, s3TestConfig } from "./backends";
import { CS, pointInput, storeLayer } from "./helpers";

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

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

/** Every version and delete marker stored under the config's prefix. */
async function versionsUnder(config: S3BackendConfig): Promise<string[]> {
  const client = sdk(config);
  const r = await client.send(
    new ListObjectVersionsCommand({ Bucket: config.bucket, Prefix: `${config.prefix}/` }),
  );
  client.destroy();
  return [...(r.Versions ?? []), ...(r.DeleteMarkers ?? [])].map((v) => v.Key ?? "");
}

type Fault = (req: http.IncomingMessage, res: http.ServerResponse) => "pass" | "handled";

/**
 * A proxy in front of the RGW that can fail requests the way networks and servers do. Headers go through
 * unchanged, so the signatures stay valid.
 */
async function faultProxy(target: string, fault: Fault) {
  const seen: string[] = [];
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (fault(req, res) === "handled") return;
    const out = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  proxies.push(server);
  return { endpoint: `http://127.0.0.1:${port}`, seen };
}
const proxies: http.Server[] = [];
afterEach(async () => {
  for (const s of proxies.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const puts = (seen: string[], key: string) =>
  seen.filter((s) => s.startsWith("PUT") && s.includes(key)).length;

describe("s3ConfigFromLocation", () => {
  const env = { AWS_ACCESS_KEY_ID: "AK", AWS_SECRET_ACCESS_KEY: "SK" };
  it("reads bucket and prefix from the location and the rest from the environment record", () => {
    expect(
      s3ConfigFromLocation("s3://backups/site-a/lifeboat", {
        ...env,
        LIFEBOAT_S3_ENDPOINT: "https://rgw.example:7480",
        AWS_REGION: "eu-west-1",
      }),
    ).toEqual({
      endpoint: "https://rgw.example:7480",
      region: "eu-west-1",
      bucket: "backups",
      prefix: "site-a/lifeboat",
      forcePathStyle: true,
      credentials: { accessKeyId: "AK", secretAccessKey: "SK" },
    });
    // AWS itself: virtual-hosted style, us-east-1 unless told otherwise
    expect(s3ConfigFromLocation("s3://backups", env)).toMatchObject({
      endpoint: undefined,
      region: "us-east-1",
      prefix: "",
      forcePathStyle: false,
    });
    expect(
      s3ConfigFromLocation("s3://b/p", {
        ...env,
        LIFEBOAT_S3_ENDPOINT: "http://x",
        LIFEBOAT_S3_PATH_STYLE: "false",
      }).forcePathStyle,
    ).toBe(false);
  });

  it("refuses what it cannot use, naming the variable and never echoing the secret", () => {
    expect(() => s3ConfigFromLocation("/srv/backups", env)).toThrow(/not an S3 location/);
    expect(() => s3ConfigFromLocation("s3://b", { AWS_SECRET_ACCESS_KEY: "SK" })).toThrow(
      /set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    );
    expect(() => s3ConfigFromLocation("s3://b", { ...env, LIFEBOAT_S3_PATH_STYLE: "maybe" })).toThrow(
      /LIFEBOAT_S3_PATH_STYLE must be true or false/,
    );
  });
});

describe("S3Backend", () => {
  it("puts atomically, gets, stats, lists and deletes by key", async () => {
    const config = s3TestConfig();
    const b = await openS3(config);
    expect(b.location).toBe(`s3://${config.bucket}/${config.prefix}/ at ${config.endpoint}`);
    expect(await b.put("a/b/c", [Buffer.from("hello "), Buffer.from("world")])).toBe(true);
    expect((await b.get("a/b/c")).toString()).toBe("hello world");
    expect(await b.has("a/b/c")).toBe(true);
    expect((await b.stat("a/b/c"))?.size).toBe(11);
    expect(await b.put("a/b/c", Buffer.from("again"), { ifAbsent: true })).toBe(false);
    expect((await b.get("a/b/c")).toString()).toBe("hello world");
    await b.put("a/b/c", Buffer.from("replaced"));
    expect((await b.get("a/b/c")).toString()).toBe("replaced");
    await b.put("a/x", Buffer.from("1"));
    expect((await all(b.list("a/"))).map((e) => e.key).sort()).toEqual(["a/b/c", "a/x"]);
    expect((await all(b.list("nothing/"))).length).toBe(0);
    await expect(b.get("a/missing")).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(b.get("a/b/c", { maxBytes: 3 })).rejects.toThrow(/8 bytes, more than the 3/);
    expect(await b.delete("a/x")).toBe(true);
    expect(await b.delete("a/x")).toBe(false);
    expect(await b.touch("a/x")).toBeUndefined();
    for (const bad of ["../etc/passwd", ".hidden", "a//b", "a/.tmp", "/abs", "a/../b", ""])
      await expect(b.put(bad, Buffer.from("x"))).rejects.toThrow(/invalid repository object key/);
    // The overwrite left an older version: the sweep removes it, and deletes leave no version behind.
    expect(await b.sweepIncomplete(Date.now() + 2000)).toEqual({ count: 1, bytes: 11 });
    expect(await b.delete("a/b/c")).toBe(true);
    expect(await versionsUnder(config)).toEqual([]);
  });

  it("deletes conditionally on the server's times: an object touched after the cutoff stays", async () => {
    const config = s3TestConfig();
    const b = await openS3(config);
    await b.put("chunks/old", Buffer.from("old"));
    await b.put("chunks/used", Buffer.from("used"));
    // S3 times have whole seconds: let one pass so that both objects are older than the cutoff.
    await new Promise((r) => setTimeout(r, 1100));
    const cutoff = Date.now();
    const touched = await b.touch("chunks/used"); // a writer deduplicating against it
    expect(touched?.size).toBe(4);
    expect(touched?.mtimeMs).toBeGreaterThanOrEqual(cutoff);
    expect(await b.deleteIfUnmodifiedSince("chunks/used", cutoff)).toBeUndefined();
    expect(await b.deleteIfUnmodifiedSince("chunks/old", cutoff)).toBe(3);
    expect(await b.deleteIfUnmodifiedSince("chunks/gone", cutoff)).toBeUndefined();
    expect((await all(b.list("chunks/"))).map((e) => e.key)).toEqual(["chunks/used"]);
    expect((await b.get("chunks/used")).toString()).toBe("used");
    // the touch replaced its version: one version left, nothing for the sweep
    expect(await versionsUnder(config)).toEqual([`${config.prefix}/chunks/used`]);
  });

  it("never loses a touch that races a conditional delete", async () => {
    const b = await openS3();
    const keys = Array.from({ length: 12 }, (_, i) => `chunks/race-${i}`);
    for (const k of keys) await b.put(k, Buffer.from(k));
    await new Promise((r) => setTimeout(r, 1100));
    const cutoff = Date.now();
    await Promise.all(
      keys.map(async (k) => {
        const [touched, freed] = await Promise.all([b.touch(k), b.deleteIfUnmodifiedSince(k, cutoff)]);
        // What must never happen is a touch that reports the object alive while it is gone: the writer would
        // reference a chunk that no longer exists. A touched object is always readable afterwards. (A copy
        // already in flight when the delete removed its source can still land after the delete's final check:
        // the delete then reports bytes freed that stayed; that miscounts the sweep and loses nothing.)
        if (touched) {
          expect((await b.get(k)).toString()).toBe(k);
        } else {
          expect(freed).toBe(k.length);
          expect(await b.has(k)).toBe(false);
        }
      }),
    );
  });

  it("lets exactly one of two concurrent write-once puts win, and keeps the winner's bytes", async () => {
    const b = await openS3();
    for (let i = 0; i < 5; i++) {
      const key = `points/p-${i}`;
      const [x, y] = await Promise.all([
        b.put(key, Buffer.from(`first ${i}`), { ifAbsent: true }),
        b.put(key, Buffer.from(`second ${i}`), { ifAbsent: true }),
      ]);
      expect([x, y].filter(Boolean)).toHaveLength(1);
      expect((await b.get(key)).toString()).toBe(x ? `first ${i}` : `second ${i}`);
    }
  });

  it("retries 5xx, throttling and dropped connections, but not a 403", async () => {
    const config = s3TestConfig();
    let failures = 0;
    const proxy = await faultProxy(config.endpoint ?? "", (req, res) => {
      if (req.method !== "PUT" || !req.url?.includes("retried")) return "pass";
      failures++;
      if (failures === 1) {
        res.writeHead(503, { "content-type": "application/xml" });
        res.end("<Error><Code>ServiceUnavailable</Code></Error>");
      } else if (failures === 2) {
        res.writeHead(503, { "content-type": "application/xml" });
        res.end("<Error><Code>SlowDown</Code></Error>");
      } else if (failures === 3) req.socket.destroy();
      else return "pass";
      return "handled";
    });
    const b = await openS3({
      ...config,
      endpoint: proxy.endpoint,
      retry: { baseDelayMs: 10, maxDelayMs: 50 },
    });
    expect(await b.put("retried", Buffer.from("made it"))).toBe(true);
    expect(puts(proxy.seen, "retried")).toBe(4);
    expect((await b.get("retried")).toString()).toBe("made it");

    const denied = await faultProxy(config.endpoint ?? "", (req, res) => {
      if (req.method !== "PUT") return "pass";
      res.writeHead(403, { "content-type": "application/xml" });
      res.end("<Error><Code>AccessDenied</Code></Error>");
      return "handled";
    });
    const d = await openS3({ ...config, endpoint: denied.endpoint, retry: { baseDelayMs: 10 } });
    const err = await d.put("refused", Buffer.from("x")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectStorageError);
    expect((err as ObjectStorageError).problem).toBe("access-denied");
    expect(String(err)).toContain(`bucket ${config.bucket} at ${denied.endpoint}`);
    expect(puts(denied.seen, "refused")).toBe(1);
  });

  it("says which bucket is missing, which credentials are wrong and which endpoint is down, never the secret", async () => {
    const config = s3TestConfig();
    const secret = config.credentials.secretAccessKey;
    const missing = await openS3({ ...config, bucket: "no-such-bucket" }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ problem: "bucket-missing" });
    expect(String(missing)).toContain(`bucket no-such-bucket does not exist at ${config.endpoint}`);

    const wrong = await openS3({
      ...config,
      credentials: { ...config.credentials, secretAccessKey: `${secret.slice(0, -4)}XXXX` },
    }).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ problem: "access-denied" });
    expect(String(wrong)).toMatch(/access denied to bucket .* at http:\/\/127\.0\.0\.1:\d+/);

    const proxy = await faultProxy(config.endpoint ?? "", () => "pass");
    const server = proxies.pop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r)); // now nothing listens there
    const down = await openS3({
      ...config,
      endpoint: proxy.endpoint,
      retry: { attempts: 2, baseDelayMs: 10 },
    }).catch((e: unknown) => e);
    expect(down).toMatchObject({ problem: "unreachable" });
    expect(String(down)).toContain(
      `cannot reach the S3 endpoint ${proxy.endpoint} (bucket ${config.bucket})`,
    );

    for (const e of [missing, wrong, down]) expect(inspect(e, { depth: 20 })).not.toContain(secret);
  });

  it("refuses a bucket that keeps no versions: conditional deletes would not be safe there", async () => {
    const config = s3TestConfig();
    const bucket = `plain-${randomUUID().slice(0, 8)}`;
    const client = sdk(config);
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
    await expect(openS3({ ...config, bucket })).rejects.toThrow(
      new RegExp(`bucket ${bucket} at .* does not keep object versions.*put-bucket-versioning`),
    );
  });

  it("shows nothing of a manifest whose upload was cut off half-way, and gc cleans up after the writer", async () => {
    const config = s3TestConfig();
    // The gateway sees the manifest's request, then the connection drops after half of its body.
    const proxy = await faultProxy(config.endpoint ?? "", (req, res) => {
      if (req.method !== "PUT" || !req.url?.includes("/layers/")) return "pass";
      const length = Number(req.headers["content-length"]);
      const out = http.request({
        host: new URL(config.endpoint ?? "").hostname,
        port: new URL(config.endpoint ?? "").port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      });
      out.on("error", () => {});
      let sent = 0;
      req.on("data", (d: Buffer) => {
        if (sent + d.length >= length / 2) {
          out.write(d.subarray(0, Math.max(0, Math.floor(length / 2) - sent)));
          out.destroy();
          res.destroy();
          req.destroy();
        } else out.write(d);
        sent += d.length;
      });
      return "handled";
    });
    const crashing = await openS3({ ...config, endpoint: proxy.endpoint, retry: { attempts: 1 } });
    const repo = await openRepository(crashing, { create: true, chunkSize: CS });
    const data = randomBytes(8 * CS);
    await expect(repo.writeLayer(Readable.from([data]), { imageId: "cut" })).rejects.toThrow(
      /cannot reach the S3 endpoint|ECONNRESET/,
    );
    expect(puts(proxy.seen, "/layers/")).toBe(1);

    // Seen directly: no layer, nothing half-written under its name, the chunks unreferenced.
    const direct = await openS3(config);
    const again = await openRepository(direct);
    expect(await again.findLayers({})).toEqual([]);
    expect(await all(direct.list("layers/"))).toEqual([]);
    expect((await all(direct.list("chunks/"))).length).toBe(8);
    expect((await again.verify()).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 1100)); // S3 times have whole seconds (rounded up)
    expect((await again.gc({ graceMs: 0 })).deletedChunks).toBe(8);

    // Through the same flaky path with retries, the write goes through and a restore point can name it.
    let cut = 0;
    const once = await faultProxy(config.endpoint ?? "", (req) => {
      if (req.method === "PUT" && req.url?.includes("/layers/") && cut++ === 0) {
        req.socket.destroy();
        return "handled";
      }
      return "pass";
    });
    const flaky = await openS3({ ...config, endpoint: once.endpoint, retry: { baseDelayMs: 10 } });
    const repo2 = await openRepository(flaky);
    const l = await storeLayer(repo2, { bytes: data, segments: [{ offset: 0, data }] }, "whole");
    await repo2.writeRestorePoint(pointInput([[l]], { id: "after-retry" }));
    expect(puts(once.seen, "/layers/")).toBe(2);
    expect((await again.readRestorePoint("after-retry")).disks[0]?.layers[0]?.layerId).toBe(l.layerId);
    expect((await again.verify()).ok).toBe(true);
    expect(await direct.has(KEYS.layer(l.layerId))).toBe(true);
  });
});
