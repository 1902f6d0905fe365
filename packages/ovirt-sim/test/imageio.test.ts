import { createHash, randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlockHash, blake2b256 } from "../src/imageio/checksum";
import { ManualClock } from "../src/index";
import { addDisk, finalize, startTransfer } from "./support/flows";
import { io, type Json, startTestSim, type TestSim } from "./support/sim";

const MiB = 1024 * 1024;
const clock = new ManualClock();
let t: TestSim;
let down: Json; // a download ticket on web01's disk (file backend)
let up: Json; // an upload ticket on a new raw disk
let upDisk: Json;

beforeAll(async () => {
  t = await startTestSim({ clock });
  const web = await t.api.vmByName("web01");
  const disk = (await t.api.ok(`/vms/${web.id}/diskattachments?follow=disk`)).disk_attachment[0].disk;
  down = await startTransfer(t.api, {
    direction: "download",
    disk: { id: disk.id },
    inactivity_timeout: "0",
  });
  upDisk = await addDisk(t.api, {
    name: "io-up",
    provisioned_size: String(4 * MiB),
    format: "raw",
    sparse: "true",
    storage_domains: { storage_domain: [{ name: "data1" }] },
  });
  up = await startTransfer(t.api, { direction: "upload", disk: { id: upDisk.id }, inactivity_timeout: "0" });
});
afterAll(async () => {
  await finalize(t.api, down.id);
  await finalize(t.api, up.id);
  await t.stop();
});

const text = (r: { body: Buffer }) => r.body.toString("utf8");
const base = () => new URL(down.transfer_url).origin;

describe("imageio data API", () => {
  it("answers OPTIONS per ticket and server-wide", async () => {
    const r = await io(t.api.agent, "OPTIONS", down.transfer_url);
    expect(r.status).toBe(200);
    expect(r.headers.server).toBe("imageio/2.5.3");
    expect(r.headers.allow).toBe("OPTIONS,GET");
    expect(JSON.parse(text(r))).toEqual({
      features: ["checksum", "extents"],
      max_readers: 8,
      max_writers: 1,
    });
    const w = await io(t.api.agent, "OPTIONS", up.transfer_url);
    expect(w.headers.allow).toBe("OPTIONS,GET,PUT,PATCH");
    const all = await io(t.api.agent, "OPTIONS", `${base()}/images/*`);
    expect(JSON.parse(text(all))).toEqual({ features: ["checksum", "extents", "flush", "zero"] });
    expect(JSON.parse(text(await io(t.api.agent, "GET", `${base()}/info/`)))).toEqual({ version: "2.5.3" });
  });

  it("serves ranges with the daemon's status codes", async () => {
    const size = JSON.parse(text(await io(t.api.agent, "GET", `${down.transfer_url}/extents`)))[0]
      .length as number;
    const r = await io(t.api.agent, "GET", down.transfer_url, { headers: { range: "bytes=0-15" } });
    expect(r.status).toBe(206);
    expect(r.body.readUInt32BE(0)).toBe(0x514649fb);
    expect(r.headers["content-range"]).toBe(`bytes 0-15/${size}`);
    expect(r.headers["content-type"]).toBe("application/octet-stream");
    expect(r.headers["content-disposition"]).toBe("attachment");
    const open = await io(t.api.agent, "GET", down.transfer_url, {
      headers: { range: `bytes=${size - 10}-` },
    });
    expect([open.status, open.body.length]).toEqual([206, 10]);
    const whole = await io(t.api.agent, "GET", down.transfer_url);
    expect([whole.status, whole.body.length]).toEqual([200, size]);
    const past = await io(t.api.agent, "GET", down.transfer_url, { headers: { range: `bytes=0-${size}` } });
    expect(past.status).toBe(416);
    expect(past.headers["content-range"]).toBe(`bytes */${size}`);
    expect(past.headers["content-type"]).toBe("text/plain; charset=UTF-8");
    for (const bad of ["bytes=-10", "bytes=0-1,4-5", "bytes=9-1", "items=0-1"])
      expect((await io(t.api.agent, "GET", down.transfer_url, { headers: { range: bad } })).status).toBe(416);
    // Within the ticket but past the file: an upload ticket on a fresh 4 MiB raw disk (ticket = virtual size).
    const within = await io(t.api.agent, "GET", up.transfer_url, { headers: { range: "bytes=0-15" } });
    expect(within.status).toBe(206);
  });

  it("refuses unknown tickets, wrong paths and methods", async () => {
    const ticket = up.transfer_url.split("/images/")[1];
    const unknown = await io(t.api.agent, "GET", `${base()}/images/${randomBytes(8).toString("hex")}`);
    expect(unknown.status).toBe(403);
    expect(unknown.headers.connection).toBe("close");
    expect(text(unknown)).toMatch(
      /^You are not allowed to access this resource: No such ticket [0-9a-f]+\n$/,
    );
    const typo = await io(t.api.agent, "GET", `${base()}/images/${ticket}/extent`);
    expect(typo.status).toBe(403);
    expect(text(typo)).toContain(`No such ticket ${ticket}/extent`);
    expect((await io(t.api.agent, "GET", `${base()}/images/`)).status).toBe(400);
    expect((await io(t.api.agent, "GET", `${base()}/nothing`)).status).toBe(404);
    for (const m of ["HEAD", "POST", "DELETE"] as const)
      expect((await io(t.api.agent, m, up.transfer_url)).status).toBe(405);
    const ro = await io(t.api.agent, "PUT", down.transfer_url, { body: Buffer.alloc(10) });
    expect(ro.status).toBe(403);
    expect(text(ro)).toMatch(/forbids write/);
  });

  it("accepts PUTs by Content-Range offset, up to exactly the ticket size", async () => {
    const data = randomBytes(4096);
    const put = await io(t.api.agent, "PUT", `${up.transfer_url}?flush=n`, {
      headers: { "content-range": `bytes ${MiB}-${MiB + 4095}/*` },
      body: data,
    });
    expect([put.status, put.body.length]).toEqual([200, 0]);
    const back = await io(t.api.agent, "GET", up.transfer_url, {
      headers: { range: `bytes=${MiB}-${MiB + 4095}` },
    });
    expect(back.body.equals(data)).toBe(true);
    const noRange = await io(t.api.agent, "PUT", up.transfer_url, { body: Buffer.from("head") });
    expect(noRange.status).toBe(200);
    expect(text(await io(t.api.agent, "GET", up.transfer_url, { headers: { range: "bytes=0-3" } }))).toBe(
      "head",
    );
    const exact = await io(t.api.agent, "PUT", up.transfer_url, {
      headers: { "content-range": `bytes ${4 * MiB - 10}-${4 * MiB - 1}/*` },
      body: Buffer.alloc(10, 1),
    });
    expect(exact.status).toBe(200);
    const over = await io(t.api.agent, "PUT", up.transfer_url, {
      headers: { "content-range": `bytes ${4 * MiB - 10}-${4 * MiB}/*` },
      body: Buffer.alloc(11),
    });
    expect(over.status).toBe(416);
    expect(over.headers.connection).toBe("close");
    const bad = await io(t.api.agent, "PUT", up.transfer_url, {
      headers: { "content-range": "bytes 9-1/*" },
      body: Buffer.alloc(1),
    });
    expect(bad.status).toBe(400);
    const chunked = await request(up.transfer_url, {
      method: "PUT",
      dispatcher: t.api.agent,
      body: Readable.from([Buffer.from("abc")]),
    });
    expect(chunked.statusCode).toBe(400);
    await chunked.body.dump();
  });

  it("zeroes and flushes with PATCH and checks its JSON", async () => {
    const patch = (body: string) =>
      io(t.api.agent, "PATCH", up.transfer_url, { headers: { "content-type": "application/json" }, body });
    await io(t.api.agent, "PUT", up.transfer_url, {
      headers: { "content-range": `bytes ${2 * MiB}-${2 * MiB + 9}/*` },
      body: Buffer.alloc(10, 7),
    });
    expect((await patch(JSON.stringify({ op: "zero", offset: 2 * MiB, size: 5, flush: false }))).status).toBe(
      200,
    );
    const back = await io(t.api.agent, "GET", up.transfer_url, {
      headers: { range: `bytes=${2 * MiB}-${2 * MiB + 9}` },
    });
    expect([...back.body]).toEqual([0, 0, 0, 0, 0, 7, 7, 7, 7, 7]);
    expect((await patch(JSON.stringify({ op: "flush" }))).status).toBe(200);
    expect((await patch(JSON.stringify({ op: "zero", offset: 4 * MiB - 1, size: 2 }))).status).toBe(416);
    const missing = await patch(JSON.stringify({ op: "zero", offset: 0 }));
    expect([missing.status, text(missing)]).toEqual([400, "Missing required value for 'size'\n"]);
    expect((await patch(JSON.stringify({ op: "trim", size: 1 }))).status).toBe(400);
    expect((await patch("{nope")).status).toBe(400);
    expect((await patch(JSON.stringify({ op: "zero", size: "1" }))).status).toBe(400);
    expect(
      (await io(t.api.agent, "PATCH", down.transfer_url, { body: JSON.stringify({ op: "flush" }) })).status,
    ).toBe(403);
  });

  it("reports one extent for the file backend and refuses other contexts", async () => {
    const ext = JSON.parse(text(await io(t.api.agent, "GET", `${up.transfer_url}/extents`)));
    expect(ext).toEqual([{ start: 0, length: 4 * MiB, zero: false, hole: false }]);
    expect((await io(t.api.agent, "GET", `${up.transfer_url}/extents?context=dirty`)).status).toBe(404);
    expect((await io(t.api.agent, "GET", `${up.transfer_url}/extents?context=bogus`)).status).toBe(400);
  });

  it("computes imageio's block checksum", async () => {
    const whole = (await io(t.api.agent, "GET", up.transfer_url)).body;
    const r = JSON.parse(
      text(await io(t.api.agent, "GET", `${up.transfer_url}/checksum?algorithm=sha256&block_size=1048576`)),
    );
    const outer = createHash("sha256");
    for (let o = 0; o < whole.length; o += MiB)
      outer.update(
        createHash("sha256")
          .update(whole.subarray(o, o + MiB))
          .digest(),
      );
    expect(r).toEqual({ algorithm: "sha256", block_size: MiB, checksum: outer.digest("hex") });
    const d = JSON.parse(text(await io(t.api.agent, "GET", `${up.transfer_url}/checksum`)));
    expect([d.algorithm, d.block_size, d.checksum.length]).toEqual(["blake2b", 4 * MiB, 64]);
    const algos = JSON.parse(text(await io(t.api.agent, "GET", `${up.transfer_url}/checksum/algorithms`)));
    expect(algos.algorithms).toContain("blake2b");
    expect((await io(t.api.agent, "GET", `${up.transfer_url}/checksum?block_size=100`)).status).toBe(400);
  });

  it("adds CORS headers when the request has an Origin", async () => {
    const r = await io(t.api.agent, "OPTIONS", down.transfer_url, {
      headers: { origin: "https://ui.example" },
    });
    expect(r.headers["access-control-allow-origin"]).toBe("*");
    expect(r.headers["access-control-max-age"]).toBe("86400");
  });
});

describe("BLAKE2b", () => {
  it("computes BLAKE2b-256 as in the RFC 7693 test vector", async () => {
    expect((await blake2b256(Buffer.from("abc"))).toString("hex")).toBe(
      "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319",
    );
  });

  it("hashes the block digests in order, zero blocks included", async () => {
    const blocks = [randomBytes(4096), Buffer.alloc(4096), randomBytes(100)];
    const h = await BlockHash.create("blake2b", 4096);
    for (const b of blocks) h.block(b);
    const digests = await Promise.all(blocks.map((b) => blake2b256(b)));
    expect(h.hexdigest()).toBe((await blake2b256(Buffer.concat(digests))).toString("hex"));
    const sha = await BlockHash.create("sha256", 4096);
    for (const b of blocks) sha.block(b);
    const shaDigests = blocks.map((b) => createHash("sha256").update(b).digest());
    expect(sha.hexdigest()).toBe(createHash("sha256").update(Buffer.concat(shaDigests)).digest("hex"));
  });
});

describe("tickets: expiry and the control API", () => {
  it("lets a ticket expire when the engine stops renewing it (paused transfer)", async () => {
    const disk = await addDisk(t.api, {
      name: "exp",
      provisioned_size: String(MiB),
      format: "raw",
      sparse: "true",
      storage_domains: { storage_domain: [{ name: "data1" }] },
    });
    const tr = await startTransfer(t.api, {
      direction: "download",
      disk: { id: disk.id },
      inactivity_timeout: "0",
    });
    expect((await t.api.post(`/imagetransfers/${tr.id}/pause`, {})).status).toBe(200);
    expect((await io(t.api.agent, "GET", tr.transfer_url, { headers: { range: "bytes=0-0" } })).status).toBe(
      206,
    );
    clock.advance(301_000);
    const r = await io(t.api.agent, "GET", tr.transfer_url, { headers: { range: "bytes=0-0" } });
    expect(r.status).toBe(403);
    expect(text(r)).toBe(`You are not allowed to access this resource: Transfer=${tr.id} expired\n`);
    // The engine renews the tickets of transferring transfers on its next poll.
    let renewed = 0;
    for (let i = 0; i < 100 && renewed !== 200; i++) {
      renewed = (await io(t.api.agent, "OPTIONS", down.transfer_url)).status;
      if (renewed !== 200) await new Promise((r) => setTimeout(r, 20));
    }
    expect(renewed).toBe(200);
    expect((await t.api.post(`/imagetransfers/${tr.id}/resume`, {})).status).toBe(200);
    await t.api.waitFor(`/imagetransfers/${tr.id}`, (j) => j.phase === "transferring");
    expect((await io(t.api.agent, "GET", tr.transfer_url, { headers: { range: "bytes=0-0" } })).status).toBe(
      206,
    );
    await finalize(t.api, tr.id);
  });

  it("manages tickets through the control socket with strict types", async () => {
    const sock = t.sim.controlSocket as string;
    const control = new Agent({ connect: { socketPath: sock } });
    const file = path.join(t.dir, "ticket-file");
    await writeFile(file, Buffer.alloc(MiB, 5));
    const put = (id: string, body: unknown) =>
      request(`http://localhost/tickets/${id}`, {
        method: "PUT",
        dispatcher: control,
        body: JSON.stringify(body),
      });
    const good = { uuid: "ctl-1", size: MiB, ops: ["read"], timeout: 10, url: `file://${file}` };
    const bad = await put("ctl-1", { ...good, size: "1" });
    expect(bad.statusCode).toBe(400);
    await bad.body.dump();
    const missing = await put("ctl-1", { uuid: "ctl-1", size: 1, ops: ["read"], url: "file:///x" });
    expect(missing.statusCode).toBe(400);
    expect(await missing.body.text()).toMatch(/timeout/);
    const ok = await put("ctl-1", good);
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
    const data = await io(t.api.agent, "GET", `${base()}/images/ctl-1`, { headers: { range: "bytes=0-3" } });
    expect([...data.body]).toEqual([5, 5, 5, 5]);
    const st = await request("http://localhost/tickets/ctl-1", { dispatcher: control });
    const status = (await st.body.json()) as Json;
    expect(status).toMatchObject({
      uuid: "ctl-1",
      active: false,
      canceled: false,
      transferred: 4,
      inactivity_timeout: 60,
    });
    clock.advance(11_000);
    expect((await io(t.api.agent, "GET", `${base()}/images/ctl-1`)).status).toBe(403);
    const patch = await request("http://localhost/tickets/ctl-1", {
      method: "PATCH",
      dispatcher: control,
      body: JSON.stringify({ timeout: 30 }),
    });
    expect(patch.statusCode).toBe(200);
    await patch.body.dump();
    expect(
      (await io(t.api.agent, "GET", `${base()}/images/ctl-1`, { headers: { range: "bytes=0-0" } })).status,
    ).toBe(206);
    for (let i = 0; i < 2; i++) {
      const del = await request("http://localhost/tickets/ctl-1", { method: "DELETE", dispatcher: control });
      expect(del.statusCode).toBe(204);
      await del.body.dump();
    }
    const gone = await request("http://localhost/tickets/ctl-1", { dispatcher: control });
    expect(gone.statusCode).toBe(404);
    await gone.body.dump();
    await control.close();
  });
});
