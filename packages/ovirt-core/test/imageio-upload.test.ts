import { readFile } from "node:fs/promises";
import {
  makeEmptyFile,
  makeGarbageFile,
  makeSparseImage,
  qcow2Of,
  sameBytes,
} from "@lifeboat/disk-image/testing";
import { type Simulator, startSimulator } from "@lifeboat/ovirt-sim";
import {
  expireTicket,
  type ImageioRecorder,
  recordImageio,
  type ServeImageSpec,
  serveImage,
  ticketConnections,
} from "@lifeboat/ovirt-sim/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  FileSegments,
  ImageioError,
  type ImageioOptions,
  ImageioTicket,
  type ImageSegment,
} from "../src/imageio";
import { zeroRuns } from "../src/imageio/upload";
import { tempDir } from "./support/images";

/**
 * The imageio client's uploads against the simulated daemon, over write tickets served straight from target
 * files (`serveImage`): the file backend (one writer) by default, `backend: "nbd"` for eight writers. Old
 * daemons' OPTIONS answers come from the simulator's `options` fault, what the client sent and how many
 * requests ran at once from its recorder.
 */
const MiB = 1024 * 1024;
const SIZE = 20 * MiB;

let tmp: ReturnType<typeof tempDir>;
let source: string;
let sourceQcow2: string;
let sim: Simulator;
beforeAll(async () => {
  tmp = tempDir();
  source = tmp.file("source.raw");
  await makeSparseImage(source, SIZE, [
    { offset: 0, length: 2 * MiB + 8192 },
    { offset: 5 * MiB, length: 3 * MiB },
    // Data with short zero gaps inside one buffer: must stay one data run.
    { offset: 10 * MiB, length: 64 * 1024 },
    { offset: 10 * MiB + 192 * 1024, length: 64 * 1024 },
    { offset: 19 * MiB, length: MiB - 4096 },
  ]);
  sourceQcow2 = await qcow2Of(source, tmp.file("source.qcow2"));
  sim = await startSimulator({ dataDir: tmp.file("sim"), seed: false });
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

interface TargetOpts extends Partial<ServeImageSpec> {
  /** The target starts empty (a fresh sparse file) instead of full of garbage. */
  startsZero?: boolean;
  /** How the daemon answers this ticket's OPTIONS (the simulator's `options` fault). */
  options?: { status?: 200 | 204 | 405; features?: string[] };
}

let n = 0;
/** A write ticket over a target file that starts as garbage (or empty with `startsZero`). */
async function target(spec: TargetOpts = {}, opts: ImageioOptions = {}, size = SIZE) {
  const { startsZero, options, ...rest } = spec;
  const file = tmp.file(`up-${++n}.raw`);
  if (startsZero) await makeEmptyFile(file, size);
  else await makeGarbageFile(file, size);
  const { id, url } = await serveImage(sim, { file, ops: ["write"], ...rest });
  if (options) sim.faults.answerOptionsAs({ ...options, ticketId: id });
  const t = await ImageioTicket.open(url, {
    caPem: sim.caPem,
    bufferSize: MiB,
    retryDelayMs: 5,
    ...opts,
  });
  tickets.push(t);
  return { id, file, t };
}

const requests = (id: string, method: string) =>
  log.requests.filter((r) => r.ticket === id && r.method === method);

describe("upload from a file", () => {
  it("writes data with PUT ?flush=n and Content-Range a-b/*, zero runs with PATCH zero, then flushes", async () => {
    const { id, file, t } = await target();
    const res = await t.upload(source);
    expect(await sameBytes(file, source)).toBe(true);
    expect(res.bytes).toBe(SIZE);
    expect(res.dataBytes + res.zeroBytes).toBe(SIZE);
    expect(res.dataBytes).toBeLessThan(SIZE / 2);
    const puts = requests(id, "PUT");
    expect(puts.length).toBeGreaterThan(0);
    for (const p of puts) {
      expect(p.query).toBe("?flush=n");
      expect(p.contentRange).toMatch(/^bytes \d+-\d+\/\*$/);
    }
    const patches = requests(id, "PATCH").map((r) => r.body as Record<string, unknown>);
    expect(patches.filter((b) => b.op === "zero").every((b) => b.flush === false)).toBe(true);
    expect(patches[patches.length - 1]).toEqual({ op: "flush" });
    // The file backend allows one writer: one data connection, never two requests at once.
    expect(res.connections).toBe(1);
    expect(log.ticketStats(id).maxInFlight).toBe(1);
  });

  it("keeps short zero gaps inside data as data, and 64 KiB-aligned zero runs of 1 MiB+ as PATCH zero", async () => {
    const { id, t } = await target();
    await t.upload(source);
    // The 64 KiB + 128 KiB gap + 64 KiB group at 10 MiB goes out as one PUT.
    const at10 = requests(id, "PUT").filter((p) => p.contentRange?.startsWith(`bytes ${10 * MiB}-`));
    expect(at10.map((p) => p.contentRange)).toEqual([`bytes ${10 * MiB}-${10 * MiB + 256 * 1024 - 1}/*`]);
    const zeros = requests(id, "PATCH")
      .map((r) => r.body as { op: string; offset: number; size: number })
      .filter((b) => b.op === "zero");
    expect(zeros.map((z) => z.offset)).toContain(2 * MiB + 65536);
  });

  it("uses several writers when the server allows them (nbd: max_writers 8), capped by workers", async () => {
    const { id, file, t } = await target({ backend: "nbd" });
    const res = await t.upload(source, { workers: 3 });
    expect(await sameBytes(file, source)).toBe(true);
    expect(res.connections).toBeGreaterThan(1);
    expect(log.ticketStats(id).maxInFlight).toBeLessThanOrEqual(3);
    // One flush per connection that wrote.
    const flushes = requests(id, "PATCH").filter((r) => (r.body as { op: string }).op === "flush");
    expect(new Set(flushes.map((f) => f.socket)).size).toBe(flushes.length);
    expect(flushes.length).toBe(res.connections);
  });

  it("falls back to flush=y semantics when the server lacks the flush feature", async () => {
    const { id, file, t } = await target({ options: { features: ["zero"] } });
    await t.upload(source);
    expect(await sameBytes(file, source)).toBe(true);
    expect(requests(id, "PUT").every((p) => p.query === "")).toBe(true);
    const bodies = requests(id, "PATCH").map((r) => r.body as Record<string, unknown>);
    expect(bodies.every((b) => b.op === "zero" && b.flush === true)).toBe(true);
  });

  it("writes zeroes with PUT on a server without features (OPTIONS 405)", async () => {
    const { id, file, t } = await target({ options: { status: 405 } });
    await t.upload(source, { workers: 4 });
    expect(await sameBytes(file, source)).toBe(true);
    expect(requests(id, "PATCH")).toHaveLength(0);
    expect(new Set(requests(id, "PUT").map((r) => r.socket)).size).toBe(1);
  });

  it("skips nothing it must zero: a target full of garbage ends equal to the source", async () => {
    const { file, t } = await target({ backend: "nbd" });
    await t.upload(source, { workers: 4 });
    expect(await sameBytes(file, source)).toBe(true);
  });

  it("closes every data connection before returning", async () => {
    const { id, t } = await target();
    await t.upload(source);
    // The client destroyed its sockets before returning; the server sees the EOF a moment later.
    for (let i = 0; i < 200 && ticketConnections(sim, id) > 1; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(ticketConnections(sim, id)).toBeLessThanOrEqual(1);
  });
});

describe("upload from segments", () => {
  it("pipes a download into an upload, equal byte for byte", async () => {
    const src = await serveImage(sim, { file: sourceQcow2, format: "qcow2", ops: ["read"], backend: "nbd" });
    const down = await ImageioTicket.open(src.url, { caPem: sim.caPem, bufferSize: MiB });
    tickets.push(down);
    const { id, file, t } = await target({ startsZero: true, backend: "nbd" });
    const res = await t.upload(down.download(), { workers: 2, total: SIZE });
    expect(await sameBytes(file, source)).toBe(true);
    expect(res.bytes).toBe(SIZE);
    // The download yields socket-sized chunks; the upload gathers them into PUTs of up to bufferSize.
    const sizes = requests(id, "PUT").map((r) => {
      const [a, b] = r.contentRange!.replace("bytes ", "").replace("/*", "").split("-").map(Number) as [
        number,
        number,
      ];
      return b - a + 1;
    });
    expect(Math.max(...sizes)).toBe(MiB);
    expect(sizes.length).toBeLessThanOrEqual(Math.ceil(res.dataBytes / MiB) + 5);
  });

  it("leaves hole segments untouched (a backing chain shows through) and zeroes them only when asked", async () => {
    const { file, t } = await target();
    async function* segs(): AsyncGenerator<ImageSegment> {
      yield { offset: 0, data: Buffer.alloc(MiB, 1) };
      yield { offset: MiB, length: 2 * MiB, zero: true, hole: true };
      yield { offset: 3 * MiB, length: MiB, zero: true, hole: false };
    }
    const res = await t.upload(segs());
    expect(res).toMatchObject({ dataBytes: MiB, zeroBytes: MiB, holeBytes: 2 * MiB, bytes: 4 * MiB });
    const bytes = await readFile(file);
    expect(bytes.subarray(0, MiB).every((b) => b === 1)).toBe(true);
    // The garbage the target started with is still there in the hole...
    expect(bytes.subarray(MiB, 3 * MiB).every((b) => b === 0xa5)).toBe(true);
    // ...and the plain zero run was zeroed.
    expect(bytes.subarray(3 * MiB, 4 * MiB).every((b) => b === 0)).toBe(true);

    const again = await target();
    await again.t.upload(segs(), { zeroHoles: true });
    expect((await readFile(again.file)).subarray(MiB, 3 * MiB).every((b) => b === 0)).toBe(true);
  });

  it("splits large data segments into bufferSize PUTs and large zero runs into ≤128 MiB PATCHes", async () => {
    const size = 300 * MiB;
    const { id, t } = await target({ startsZero: true, backend: "nbd" }, {}, size);
    async function* segs(): AsyncGenerator<ImageSegment> {
      yield { offset: 0, data: Buffer.alloc(3 * MiB + 5, 7) };
      yield { offset: 3 * MiB + 5, length: size - (3 * MiB + 5), zero: true };
    }
    await t.upload(segs());
    expect(requests(id, "PUT").map((r) => r.contentRange)).toEqual([
      `bytes 0-${MiB - 1}/*`,
      `bytes ${MiB}-${2 * MiB - 1}/*`,
      `bytes ${2 * MiB}-${3 * MiB - 1}/*`,
      `bytes ${3 * MiB}-${3 * MiB + 4}/*`,
    ]);
    const zeros = requests(id, "PATCH")
      .map((r) => r.body as { op: string; size: number })
      .filter((b) => b.op === "zero");
    expect(zeros.map((z) => z.size)).toEqual([128 * MiB, 128 * MiB, size - (3 * MiB + 5) - 256 * MiB]);
  });
});

describe("faults", () => {
  it("retries a PUT answered 500 once", async () => {
    const { id, file, t } = await target();
    sim.faults.failOperation("images.put", { status: 500 });
    await t.upload(source);
    expect(await sameBytes(file, source)).toBe(true);
    expect(requests(id, "PUT").filter((r) => r.status === 500)).toHaveLength(1);
  });

  it("finishes against a slow server with several writers, every recycled buffer intact", async () => {
    const { file, t } = await target({ backend: "nbd" });
    sim.faults.addLatency({ ms: 15, target: "imageio" });
    sim.faults.failOperation("images.put", { status: 500, times: 2 });
    await t.upload(source, { workers: 4, bufferSize: 256 * 1024 });
    expect(await sameBytes(file, source)).toBe(true);
  });

  it("fails at once on 403 with the server's text", async () => {
    const { id, t } = await target({ transferId: "tr-42" });
    expireTicket(sim, id);
    const err = (await t.upload(source).catch((e: unknown) => e)) as ImageioError;
    expect(err).toBeInstanceOf(ImageioError);
    expect(err.message).toMatch(/^imageio: 403 .*Transfer=tr-42 expired/);
    expect(requests(id, "PUT").length + requests(id, "PATCH").length).toBe(1);
  });

  it("fails at once on 416 when the source is larger than the ticket", async () => {
    const { t } = await target({}, {}, 8 * MiB);
    const err = (await t.upload(source).catch((e: unknown) => e)) as ImageioError;
    expect(err.status).toBe(416);
    expect(err.message).toMatch(/416 Requested range (past|exceeds) (the )?ticket size/);
  });

  it("refuses to upload to a read-only ticket", async () => {
    const { url } = await serveImage(sim, { file: source, ops: ["read"] });
    const t = await ImageioTicket.open(url, { caPem: sim.caPem });
    tickets.push(t);
    await expect(t.upload(source)).rejects.toThrow("does not allow writing");
  });
});

describe("zero detection", () => {
  it("folds interior zero runs shorter than the minimum, keeps edge runs", () => {
    const block = 64 * 1024;
    const buf = Buffer.alloc(16 * block);
    buf.fill(1, 2 * block, 3 * block);
    buf.fill(1, 5 * block, 6 * block);
    buf.fill(1, 14 * block, 15 * block);
    expect(zeroRuns(buf, 4 * block)).toEqual([
      { start: 0, end: 2 * block, zero: true },
      { start: 2 * block, end: 6 * block, zero: false },
      { start: 6 * block, end: 14 * block, zero: true },
      { start: 14 * block, end: 15 * block, zero: false },
      { start: 15 * block, end: 16 * block, zero: true },
    ]);
  });

  it("merges zero runs across buffers when reading a file", async () => {
    const file = tmp.file("zeros-across.raw");
    await makeSparseImage(file, 4 * MiB, [{ offset: 3 * MiB + 4096, length: 4096 }]);
    const segs: Array<{ offset: number; length: number; zero: boolean }> = [];
    const fs = await FileSegments.open(file, MiB, MiB);
    for await (const s of fs.segments())
      segs.push({ offset: s.offset, length: s.zero ? s.length : s.data.length, zero: !!s.zero });
    expect(segs).toEqual([
      { offset: 0, length: 3 * MiB, zero: true },
      { offset: 3 * MiB, length: 65536, zero: false },
      { offset: 3 * MiB + 65536, length: MiB - 65536, zero: true },
    ]);
  });
});
