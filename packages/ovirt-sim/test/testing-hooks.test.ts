import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Agent } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  expireTicket,
  makeUnrelatedCa,
  qemuImg,
  recordEngine,
  recordImageio,
  removeTicket,
  serveImage,
  ticketConnections,
} from "../src/testing";

import { io, startTestSim, type TestSim } from "./support/sim";

/**
 * The test hooks of `@lifeboat/ovirt-sim/testing` that imageio client tests use: tickets served straight from
 * a file, the `options` fault (OPTIONS of older daemons and proxies), the request recorders, ticket expiry.
 */
const MiB = 1024 * 1024;
let t: TestSim;
let agent: Agent;
let raw: string;
let qcow2: string;
const data = randomBytes(MiB);

beforeAll(async () => {
  t = await startTestSim({ seed: false });
  agent = new Agent({ connect: { ca: t.sim.caPem } });
  raw = path.join(t.dir, "test.raw");
  const buf = Buffer.alloc(4 * MiB);
  data.copy(buf, MiB);
  await writeFile(raw, buf);
  qcow2 = path.join(t.dir, "test.qcow2");
  await qemuImg("convert", "-f", "raw", "-O", "qcow2", raw, qcow2);
});
afterEach(() => t.sim.faults.clear());
afterAll(async () => {
  await agent.close();
  await t.stop();
});

describe("serveImage", () => {
  it("serves a file-backend ticket over the file as it is, on the daemon and the proxy port", async () => {
    const s = await serveImage(t.sim, { file: raw, ops: ["read"], transferId: "tr-1" });
    const opts = await io(agent, "OPTIONS", s.url);
    expect(JSON.parse(opts.body.toString())).toEqual({
      features: ["checksum", "extents"],
      max_readers: 8,
      max_writers: 1,
    });
    const ext = await io(agent, "GET", `${s.proxyUrl}/extents`);
    expect(JSON.parse(ext.body.toString())).toEqual([
      { start: 0, length: 4 * MiB, zero: false, hole: false },
    ]);
    const r = await io(agent, "GET", s.url, { headers: { range: `bytes=${MiB}-${2 * MiB - 1}` } });
    expect(r.status).toBe(206);
    expect(r.body.equals(data)).toBe(true);
    expect(t.sim.state.tickets().find((x) => x.uuid === s.id)?.transfer_id).toBe("tr-1");
    await removeTicket(t.sim, s.id);
    expect((await io(agent, "GET", s.url)).status).toBe(403);
  });

  it("serves an nbd ticket over a qcow2 image: its data and zero extents, writes through the chain", async () => {
    const s = await serveImage(t.sim, { file: qcow2, format: "qcow2", ops: ["write"], backend: "nbd" });
    const ext = await io(agent, "GET", `${s.url}/extents`);
    expect(JSON.parse(ext.body.toString())).toEqual([
      { start: 0, length: MiB, zero: true, hole: true },
      { start: MiB, length: MiB, zero: false, hole: false },
      { start: 2 * MiB, length: 2 * MiB, zero: true, hole: true },
    ]);
    expect(JSON.parse((await io(agent, "OPTIONS", s.url)).body.toString()).max_writers).toBe(8);
    const put = await io(agent, "PUT", s.url, {
      body: data,
      headers: { "content-range": `bytes ${3 * MiB}-${4 * MiB - 1}/*` },
    });
    expect(put.status).toBe(200);
    const back = await io(agent, "GET", s.url, { headers: { range: `bytes=${3 * MiB}-${4 * MiB - 1}` } });
    expect(back.body.equals(data)).toBe(true);
    await removeTicket(t.sim, s.id);
  });

  it("expires a ticket: 403 with the transfer's name", async () => {
    const s = await serveImage(t.sim, { file: raw, ops: ["read"], transferId: "tr-exp" });
    expireTicket(t.sim, s.id);
    const r = await io(agent, "GET", s.url);
    expect(r.status).toBe(403);
    expect(r.body.toString()).toBe("You are not allowed to access this resource: Transfer=tr-exp expired\n");
  });

  it("gives a CA that did not sign the simulator's certificate", async () => {
    const other = makeUnrelatedCa(path.join(t.dir, "other"));
    expect(other.caPem).not.toBe(t.sim.caPem);
    expect(await readFile(other.caFile, "utf8")).toBe(other.caPem);
    const s = await serveImage(t.sim, { file: raw, ops: ["read"] });
    const strict = new Agent({ connect: { ca: other.caPem } });
    await expect(io(strict, "OPTIONS", s.url)).rejects.toThrow(/certificate/i);
    await strict.close();
  });
});

describe("the options fault", () => {
  it("answers 405 as a daemon before OPTIONS, 204 as an old proxy, or other features and limits", async () => {
    const a = await serveImage(t.sim, { file: raw, ops: ["read"] });
    const b = await serveImage(t.sim, { file: raw, ops: ["write"] });
    const f = t.sim.faults.answerOptionsAs({ status: 405, ticketId: a.id });
    const old = await io(agent, "OPTIONS", a.url);
    expect(old.status).toBe(405);
    expect(old.headers["content-type"]).toBe("text/plain; charset=UTF-8");
    // Only the ticket named; the other one answers as usual.
    expect((await io(agent, "OPTIONS", b.url)).status).toBe(200);
    f.remove();
    t.sim.faults.answerOptionsAs({ status: 204 });
    const proxy = await io(agent, "OPTIONS", b.proxyUrl);
    expect(proxy.status).toBe(204);
    expect(proxy.body.length).toBe(0);
    t.sim.faults.clear();
    t.sim.faults.answerOptionsAs({ features: ["zero"], maxReaders: 3, maxWriters: 2, ticketId: b.id });
    expect(JSON.parse((await io(agent, "OPTIONS", b.url)).body.toString())).toEqual({
      features: ["zero"],
      max_readers: 3,
      max_writers: 2,
    });
    // Data requests are not touched.
    expect((await io(agent, "GET", a.url, { headers: { range: "bytes=0-15" } })).status).toBe(206);
  });
});

describe("recordImageio", () => {
  it("records each request with its connection and answer, PATCH bodies, and per-ticket concurrency", async () => {
    const s = await serveImage(t.sim, { file: raw, ops: ["write"] });
    const log = recordImageio(t.sim);
    await io(agent, "PUT", `${s.url}?flush=n`, {
      body: Buffer.alloc(4096, 1),
      headers: { "content-range": "bytes 0-4095/*" },
    });
    await io(agent, "PATCH", s.url, {
      body: JSON.stringify({ op: "zero", offset: 0, size: 4096, flush: false }),
      headers: { "content-type": "application/json" },
    });
    await Promise.all(
      [0, 1, 2].map(() => io(agent, "GET", s.url, { headers: { range: "bytes=0-1048575" } })),
    );
    await io(agent, "GET", `${t.sim.imageioUrl}/images/nope`);
    const mine = log.requests.filter((r) => r.ticket === s.id);
    expect(mine.map((r) => [r.method, r.path, r.status])).toEqual([
      ["PUT", "", 200],
      ["PATCH", "", 200],
      ["GET", "", 206],
      ["GET", "", 206],
      ["GET", "", 206],
    ]);
    expect(mine[0]).toMatchObject({ query: "?flush=n", contentRange: "bytes 0-4095/*" });
    expect(mine[1]?.body).toEqual({ op: "zero", offset: 0, size: 4096, flush: false });
    expect(mine[2]?.range).toBe("bytes=0-1048575");
    expect(log.requests.find((r) => r.ticket === "nope")?.status).toBe(403);
    const stats = log.ticketStats(s.id);
    expect(stats.connections).toBeGreaterThanOrEqual(2);
    expect(stats.maxInFlight).toBeGreaterThanOrEqual(2);
    expect(stats.maxInFlight).toBeLessThanOrEqual(3);
    expect(ticketConnections(t.sim, s.id)).toBe(stats.connections);
    // Off again after clear + enabled = false: a long-running simulator records nothing by default.
    log.enabled = false;
    log.clear();
    await io(agent, "OPTIONS", s.url);
    expect(log.requests).toHaveLength(0);
  });
});

describe("recordEngine", () => {
  it("records SSO, API and logout requests with headers, query and body, and counts calls", async () => {
    const log = recordEngine(t.sim);
    const token = await t.api.login();
    await t.api.req("GET", "/vms?search=name%3Ddb*");
    await t.api.req("POST", "/vms/nope/snapshots?correlation_id=job-1", { description: "x" });
    const kinds = log.requests.map((r) => [r.kind, r.method, r.path]);
    expect(kinds).toEqual([
      ["sso", "POST", "/ovirt-engine/sso/oauth/token"],
      ["api", "GET", "/vms"],
      ["api", "POST", "/vms/nope/snapshots"],
    ]);
    expect(new URLSearchParams(log.requests[0]?.body).get("username")).toBe(t.sim.adminUser);
    expect(log.requests[1]?.query.get("search")).toBe("name=db*");
    expect(log.requests[1]?.headers.authorization).toBe(`Bearer ${token}`);
    expect(JSON.parse(log.requests[2]?.body ?? "")).toEqual({ description: "x" });
    expect(log.requests[2]?.query.get("correlation_id")).toBe("job-1");
    expect(log.calls("GET", "/vms")).toBe(1);
    log.enabled = false;
    log.clear();
    await t.api.req("GET", "/vms");
    expect(log.requests).toHaveLength(0);
  });
});
