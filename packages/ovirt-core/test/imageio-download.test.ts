import { createServer } from "node:net";
import { makeSparseImage, qcow2Of, sameBytes } from "@lifeboat/disk-image/testing";
import { type Simulator, startSimulator } from "@lifeboat/ovirt-sim";
import {
  expireTicket,
  type ImageioRecorder,
  makeUnrelatedCa,
  recordImageio,
  type ServeImageSpec,
  serveImage,
  ticketConnections,
} from "@lifeboat/ovirt-sim/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AbortedError } from "../src/engine";
import {
  ImageioError,
  type ImageioOptions,
  ImageioTicket,
  type ImageSegment,
  type TransferProgress,
} from "../src/imageio";
import { tempDir } from "./support/images";
import { makePki, type TestPki } from "./support/pki";
import { ScriptedServer } from "./support/scripted-server";

/**
 * The imageio client's downloads against the simulated daemon, over tickets served straight from test images
 * (`serveImage`): NBD tickets over a qcow2 copy of the raw source (the raw file's data and zero extents),
 * file-backend tickets over the raw file itself. Old daemons' OPTIONS answers and other connection limits come
 * from the simulator's `options` fault, requests and concurrency from its recorder. Extents no daemon sends
 * are answered by the scripted double (see its header).
 */
const MiB = 1024 * 1024;
const SIZE = 24 * MiB;
/** Data regions of the test image; the rest are holes, one region is allocated zeroes. */
const ALLOCATED_ZERO = { offset: 6 * MiB, length: 512 * 1024 };
const REGIONS = [
  { offset: 0, length: 3 * MiB + 4096 },
  { ...ALLOCATED_ZERO, fill: 0 },
  { offset: 8 * MiB, length: 5 * MiB },
  { offset: 20 * MiB + 65536, length: 2 * MiB },
];

let tmp: ReturnType<typeof tempDir>;
let image: string;
let qcow2: string;
let sim: Simulator;
let layer: string;
let otherCa: { caPem: string };
beforeAll(async () => {
  tmp = tempDir();
  image = tmp.file("source.raw");
  await makeSparseImage(image, SIZE, REGIONS);
  qcow2 = await qcow2Of(image, tmp.file("source.qcow2"), [ALLOCATED_ZERO]);
  const head = tmp.file("head.raw");
  await makeSparseImage(head, SIZE, [{ offset: 0, length: 2 * MiB }]);
  layer = await qcow2Of(head, tmp.file("layer.qcow2"));
  sim = await startSimulator({ dataDir: tmp.file("sim"), seed: false });
  otherCa = makeUnrelatedCa(tmp.file("other-ca"));
});
afterAll(async () => {
  await sim.stop();
  tmp.cleanup();
});

let log: ImageioRecorder;
let tickets: ImageioTicket[] = [];
beforeEach(() => {
  log = recordImageio(sim);
});
afterEach(async () => {
  await Promise.all(tickets.map((t) => t.close()));
  tickets = [];
  sim.faults.clear();
});

interface TicketOpts extends Partial<ServeImageSpec> {
  /** How the daemon answers this ticket's OPTIONS (the simulator's `options` fault). */
  options?: { status?: 200 | 204 | 405; features?: string[]; maxReaders?: number; maxWriters?: number };
}

/** A read ticket: NBD over the qcow2 copy by default; `backend: "file"` serves the raw file as it is. */
async function ticket(spec: TicketOpts = {}, opts: ImageioOptions = {}) {
  const { options, ...rest } = spec;
  const file = rest.backend === "file" ? { file: image } : { file: qcow2, format: "qcow2" as const };
  const served = await serveImage(sim, { ops: ["read"], backend: "nbd", ...file, ...rest });
  if (options) sim.faults.answerOptionsAs({ ...options, ticketId: served.id });
  const t = await ImageioTicket.open(served.url, {
    caPem: sim.caPem,
    bufferSize: MiB,
    retryDelayMs: 5,
    ...opts,
  });
  tickets.push(t);
  return { id: served.id, t };
}

let pki: TestPki | undefined;
const scripted: ScriptedServer[] = [];
afterAll(async () => {
  await Promise.all(scripted.map((s) => s.close()));
  pki?.cleanup();
});

/**
 * A read ticket on the scripted double answering OPTIONS as the daemon does, the given extents, and ranged
 * GETs within `size` with zero bytes (416 past it, in the words the daemon uses for a file's end).
 */
async function scriptedTicket(extents: unknown[], { size = SIZE } = {}) {
  pki ??= makePki();
  const server = await ScriptedServer.start(pki);
  scripted.push(server);
  const path = "/images/scripted";
  server.routeRaw("OPTIONS", path, {
    json: { features: ["checksum", "extents"], max_readers: 8, max_writers: 1 },
    headers: { allow: "OPTIONS,GET" },
  });
  server.routeRaw("GET", `${path}/extents`, { json: extents });
  server.routeRaw("GET", path, (req) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range));
    const [first, last] = [Number(m?.[1]), Number(m?.[2])];
    if (last >= size)
      return {
        status: 416,
        text: `Requested range ${String(req.headers.range)} past the ticket size\n`,
        contentType: "text/plain; charset=UTF-8",
        headers: { "content-range": `bytes */${size}` },
      };
    return {
      status: 206,
      bytes: Buffer.alloc(last - first + 1),
      headers: { "content-range": `bytes ${first}-${last}/${size}` },
    };
  });
  const t = await ImageioTicket.open(`https://127.0.0.1:${server.port}${path}`, {
    caPem: pki.caPem,
    bufferSize: MiB,
    retryDelayMs: 5,
  });
  tickets.push(t);
  return { server, t };
}

async function collect(it: AsyncIterable<ImageSegment>): Promise<ImageSegment[]> {
  const out: ImageSegment[] = [];
  for await (const s of it) out.push(s);
  return out;
}

const dataGets = (id: string) =>
  log.requests.filter((r) => r.ticket === id && r.method === "GET" && r.path === "" && r.range);

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`never happened: ${what}`);
}

describe("OPTIONS and extents", () => {
  it("reads features and connection limits of a read-only ticket", async () => {
    const { t } = await ticket({ options: { maxReaders: 6 } });
    expect(t.options).toMatchObject({
      features: ["checksum", "extents"],
      maxReaders: 6,
      maxWriters: 8,
      legacy: false,
    });
    expect(t.options.allow).toEqual(["OPTIONS", "GET"]);
    expect(t.canRead).toBe(true);
    expect(t.canWrite).toBe(false);
    expect(t.usedProxy).toBe(false);
  });

  it("reads zero extents (context=zero) and the size from the last one", async () => {
    const { id, t } = await ticket();
    const extents = await t.extents();
    expect(extents[0]).toEqual({
      start: 0,
      length: 3 * MiB + 4096,
      zero: false,
      hole: false,
      dirty: undefined,
    });
    expect(extents.filter((e) => !e.zero).reduce((n, e) => n + e.length, 0)).toBe(
      3 * MiB + 4096 + 512 * 1024 + 7 * MiB,
    );
    expect(await t.size()).toBe(SIZE);
    expect(log.requests.find((r) => r.ticket === id && r.path === "/extents")?.query).toBe("?context=zero");
  });

  it("treats a server answering OPTIONS 405 as legacy: no features, one connection, size from GET", async () => {
    const { id, t } = await ticket({ options: { status: 405 } });
    expect(t.options).toMatchObject({ features: [], maxReaders: 1, maxWriters: 1, legacy: true });
    const out = tmp.file("legacy.raw");
    await t.downloadToFile(out, { workers: 4 });
    expect(await sameBytes(out, image)).toBe(true);
    expect(new Set(dataGets(id).map((r) => r.socket)).size).toBe(1);
    expect(log.requests.some((r) => r.ticket === id && r.path === "/extents")).toBe(false);
  });

  it("treats 204 (old proxy) the same way", async () => {
    const { t } = await ticket({ options: { status: 204 } });
    expect(t.options.legacy).toBe(true);
    expect(await t.size()).toBe(SIZE);
  });
});

describe("download", () => {
  it("yields ordered, contiguous segments, reads only data extents, and matches the source byte for byte", async () => {
    const { id, t } = await ticket();
    const segs = await collect(t.download());
    let next = 0;
    for (const s of segs) {
      expect(s.offset).toBe(next);
      next += s.zero ? s.length : s.data.length;
      if (!s.zero) expect(s.data.length).toBeLessThanOrEqual(MiB);
    }
    expect(next).toBe(SIZE);
    // No GET touches a zero extent.
    const extents = await t.extents();
    for (const r of dataGets(id)) {
      const [a, b] = r.range!.replace("bytes=", "").split("-").map(Number) as [number, number];
      expect(extents.some((e) => !e.zero && e.start <= a && b < e.start + e.length)).toBe(true);
    }
    const out = tmp.file("ordered.raw");
    await t.downloadToFile(out);
    expect(await sameBytes(out, image)).toBe(true);
  });

  it("reads everything from a file-backend ticket (one extent) and still writes a sparse, equal file", async () => {
    const { id, t } = await ticket({ backend: "file" });
    const out = tmp.file("file-backend.raw");
    const res = await t.downloadToFile(out, { sparse: true });
    expect(await sameBytes(out, image)).toBe(true);
    expect(dataGets(id).length).toBe(SIZE / MiB);
    expect(res.written + res.skipped).toBe(SIZE);
    expect(res.skipped).toBeGreaterThan(SIZE / 2);
  });

  it("uses several connections, at most the workers asked for and never more than max_readers", async () => {
    const { id, t } = await ticket({ backend: "file" });
    await collect(t.download({ workers: 3 }));
    const used = new Set(dataGets(id).map((r) => r.socket));
    expect(used.size).toBe(3);

    const capped = await ticket({ backend: "file", options: { maxReaders: 2 } });
    await collect(capped.t.download({ workers: 8 }));
    expect(new Set(dataGets(capped.id).map((r) => r.socket)).size).toBe(2);
    expect(log.ticketStats(capped.id).maxInFlight).toBeLessThanOrEqual(2);
  });

  it("keeps at most workers + 2 pieces ahead of a consumer that stops reading", async () => {
    const { id, t } = await ticket({ backend: "file" });
    const it = t.download({ workers: 2 });
    await it.next();
    await new Promise((r) => setTimeout(r, 200));
    // One piece consumed, at most a window of 4 in flight or buffered behind it.
    expect(dataGets(id).length).toBeLessThanOrEqual(5);
    await it.return();
  });

  it("reports progress up to the full size, with the data bytes that crossed the network", async () => {
    const { t } = await ticket();
    const seen: TransferProgress[] = [];
    await collect(t.download({ onProgress: (p) => seen.push(p) }));
    const final = seen[seen.length - 1]!;
    expect(final.done).toBe(SIZE);
    expect(final.total).toBe(SIZE);
    expect(final.dataBytes).toBe(3 * MiB + 4096 + 512 * 1024 + 7 * MiB);
    expect(seen.every((p, i) => i === 0 || p.done >= seen[i - 1]!.done)).toBe(true);
  });

  it("passes holes through as zero segments marked hole", async () => {
    // A layer alone (shallow), 2 MiB of it allocated: the rest is [2 MiB, SIZE) zero and hole.
    const { t } = await ticket({ file: layer, format: "qcow2", shallow: true });
    expect(await t.extents()).toEqual([
      { start: 0, length: 2 * MiB, zero: false, hole: false, dirty: undefined },
      { start: 2 * MiB, length: SIZE - 2 * MiB, zero: true, hole: true, dirty: undefined },
    ]);
    const segs = await collect(t.download());
    expect(segs[segs.length - 1]).toEqual({
      offset: 2 * MiB,
      length: SIZE - 2 * MiB,
      zero: true,
      hole: true,
    });
  });

  it("closes every data connection before returning, and the control one on close()", async () => {
    const { id, t } = await ticket();
    await collect(t.download());
    await eventually(() => ticketConnections(sim, id) <= 1, "data connections closed");
    await t.close();
    await eventually(() => ticketConnections(sim, id) === 0, "control connection closed");
  });

  it("closes connections when the consumer breaks early", async () => {
    const { id, t } = await ticket({ backend: "file" });
    for await (const s of t.download()) if (s.offset >= 2 * MiB) break;
    await eventually(() => ticketConnections(sim, id) <= 1, "data connections closed after break");
  });
});

describe("faults", () => {
  it("retries a range whose connection drops mid-body, on a fresh connection", async () => {
    const { id, t } = await ticket();
    // Every data GET is at least 4 KiB: each of the two is cut after 1 KiB of its body.
    sim.faults.dropConnection({ method: "GET", afterBytes: 1024, times: 2 });
    const out = tmp.file("dropped.raw");
    await t.downloadToFile(out);
    expect(await sameBytes(out, image)).toBe(true);
    const ranges = dataGets(id).map((r) => r.range);
    expect(ranges.length - new Set(ranges).size).toBe(2);
  });

  it("retries a range answered 500 once", async () => {
    const { id, t } = await ticket();
    sim.faults.failOperation("images.get", { status: 500 });
    const out = tmp.file("500.raw");
    await t.downloadToFile(out);
    expect(await sameBytes(out, image)).toBe(true);
    expect(dataGets(id).filter((r) => r.status === 500)).toHaveLength(1);
  });

  it("finishes against a slow server", async () => {
    const { t } = await ticket();
    sim.faults.addLatency({ ms: 3, target: "imageio" });
    const out = tmp.file("slow.raw");
    await t.downloadToFile(out);
    expect(await sameBytes(out, image)).toBe(true);
  });

  it("retries a range that stalls longer than the timeout", async () => {
    const { id, t } = await ticket({}, { timeoutMs: 150 });
    sim.faults.addLatency({ ms: 1000, target: "imageio", op: "images.get", times: 1 });
    const out = tmp.file("stall.raw");
    await t.downloadToFile(out);
    expect(await sameBytes(out, image)).toBe(true);
    const ranges = dataGets(id).map((r) => r.range);
    expect(ranges.length - new Set(ranges).size).toBe(1);
  });

  it("gives up after the bounded number of retries", async () => {
    const { id, t } = await ticket({}, { retries: 2 });
    sim.faults.dropConnection({ method: "GET", afterBytes: 1024, times: 1000 });
    const err = await collect(t.download({ workers: 1 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageioError);
    expect((err as Error).message).toMatch(/^imageio: /);
    expect(dataGets(id)).toHaveLength(3);
  });

  it("fails at once on 403 (expired ticket) with the server's text", async () => {
    const { id, t } = await ticket({ transferId: "7e7e7e7e-0000" });
    await t.extents();
    expireTicket(sim, id);
    const err = (await collect(t.download({ workers: 1 })).catch((e: unknown) => e)) as ImageioError;
    expect(err).toBeInstanceOf(ImageioError);
    expect(err.status).toBe(403);
    expect(err.message).toMatch(
      /^imageio: 403 You are not allowed to access this resource: Transfer=7e7e7e7e-0000 expired/,
    );
    expect(err.message).not.toContain(id);
    // Not retried: one request, one answer.
    expect(dataGets(id)).toHaveLength(1);
  });

  it("fails at once on 416 when the extents reach past the ticket", async () => {
    // A 16 MiB ticket whose extents claim 24 MiB of data: no daemon answers so (it clips them), a double does.
    const { server, t } = await scriptedTicket([{ start: 0, length: SIZE, zero: false, hole: false }], {
      size: 16 * MiB,
    });
    const err = (await collect(t.download({ workers: 1 })).catch((e: unknown) => e)) as ImageioError;
    expect(err.status).toBe(416);
    // One request past the ticket, answered 416 and not retried.
    const past = server.rawRequests.filter(
      (r) => r.method === "GET" && Number(/^bytes=(\d+)-/.exec(String(r.headers.range))?.[1]) >= 16 * MiB,
    );
    expect(past).toHaveLength(1);
    expect(err.message).toContain("416 Requested range bytes=16777216-");
  });

  it("refuses malformed extents", async () => {
    const { t } = await scriptedTicket([
      { start: 0, length: MiB, zero: false, hole: false },
      { start: 2 * MiB, length: MiB, zero: false, hole: false },
    ]);
    await expect(t.extents()).rejects.toThrow("extent 1 starts at 2097152, expected 1048576");
  });

  it("stops on abort and closes its connections", async () => {
    const { id, t } = await ticket({ backend: "file" });
    sim.faults.addLatency({ ms: 20, target: "imageio" });
    const ac = new AbortController();
    const p = collect(t.download({ signal: ac.signal }));
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toBeInstanceOf(AbortedError);
    await eventually(() => ticketConnections(sim, id) <= 1, "connections closed after abort");
  });
});

describe("URLs and TLS", () => {
  async function closedPort(): Promise<number> {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as { port: number }).port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }

  it("falls back to proxy_url when transfer_url cannot be reached", async () => {
    const served = await serveImage(sim, { file: qcow2, format: "qcow2", ops: ["read"], backend: "nbd" });
    const logs: string[] = [];
    const t = await ImageioTicket.open(
      {
        transferUrl: `https://127.0.0.1:${await closedPort()}/images/${served.id}`,
        proxyUrl: served.proxyUrl,
      },
      { caPem: sim.caPem, logger: (l) => logs.push(l) },
    );
    tickets.push(t);
    expect(t.usedProxy).toBe(true);
    expect(t.url.port).toBe(new URL(sim.proxyUrl).port);
    expect(logs.join("\n")).toContain("using the proxy");
  });

  it("does not fall back on an HTTP error from transfer_url", async () => {
    const real = await serveImage(sim, { file: image, ops: ["read"] });
    const err = (await ImageioTicket.open(
      { transferUrl: `${sim.imageioUrl}/images/unknown-ticket`, proxyUrl: real.proxyUrl },
      { caPem: sim.caPem },
    ).catch((e: unknown) => e)) as ImageioError;
    expect(err.status).toBe(403);
    expect(err.message).toContain("No such ticket unknown-ticket");
  });

  it("refuses a certificate the given CA did not sign, and accepts it with insecure", async () => {
    const tls = await serveImage(sim, { file: image, ops: ["read"] });
    await expect(ImageioTicket.open(tls.url, { caPem: otherCa.caPem })).rejects.toThrow(/certificate/i);
    const t = await ImageioTicket.open(tls.url, { insecure: true });
    tickets.push(t);
    expect(t.options.maxReaders).toBe(8);
  });

  it("refuses a plain http ticket URL unless insecure", async () => {
    await expect(
      ImageioTicket.open(`http://127.0.0.1:${new URL(sim.imageioUrl).port}/images/x`, { caPem: sim.caPem }),
    ).rejects.toThrow(/https expected/);
  });

  it("treats a wrong sub-path as an unknown ticket (403), as imageio does", async () => {
    const sub = await serveImage(sim, { file: image, ops: ["read"] });
    await expect(ImageioTicket.open(`${sub.url}/extent`, { caPem: sim.caPem })).rejects.toMatchObject({
      status: 403,
    });
  });
});
