import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addDisk, finalize, startTransfer, waitPhase } from "./support/flows";
import { io, type Json, startTestSim, type TestSim } from "./support/sim";

const MiB = 1024 * 1024;
let t: TestSim;
let disk: Json;

beforeAll(async () => {
  t = await startTestSim();
  disk = await addDisk(t.api, {
    name: "faulty",
    provisioned_size: String(4 * MiB),
    format: "raw",
    sparse: "true",
    storage_domains: { storage_domain: [{ name: "data1" }] },
  });
});
afterAll(async () => {
  t.sim.faults.clear();
  await t.stop();
});

describe("fault injection", () => {
  it("drops a GET after N bytes and a PUT after N received bytes", async () => {
    const tr = await startTransfer(t.api, { direction: "download", disk: { id: disk.id } });
    t.sim.faults.dropConnection({ method: "GET", afterBytes: 100_000 });
    let got = 0;
    let failed = false;
    try {
      const r = await request(tr.transfer_url, { dispatcher: t.api.agent });
      for await (const c of r.body) got += (c as Buffer).length;
    } catch {
      failed = true;
    }
    expect(failed).toBe(true);
    expect(got).toBeLessThanOrEqual(100_000);
    // Only once: the next GET is whole.
    expect((await io(t.api.agent, "GET", tr.transfer_url)).body.length).toBe(4 * MiB);
    await finalize(t.api, tr.id);

    const upT = await startTransfer(t.api, { direction: "upload", disk: { id: disk.id } });
    t.sim.faults.dropConnection({ method: "PUT", afterBytes: MiB });
    await expect(
      io(t.api.agent, "PUT", upT.transfer_url, { body: Buffer.alloc(3 * MiB, 1) }),
    ).rejects.toThrow();
    const put = await io(t.api.agent, "PUT", upT.transfer_url, { body: Buffer.alloc(3 * MiB, 2) });
    expect(put.status).toBe(200);
    expect((await finalize(t.api, upT.id)).phase).toBe("finished_success");
  });

  it("answers 500 once, 409 with a probability, for named operations on both sides", async () => {
    t.sim.faults.failOperation("vms.list", { status: 500 });
    const first = await t.api.get("/vms");
    expect(first.status).toBe(500);
    expect(first.json).toEqual({ reason: "Operation Failed", detail: "[Internal Engine Error]" });
    expect((await t.api.get("/vms")).status).toBe(200);
    const h = t.sim.faults.failOperation("disks.get", {
      status: 409,
      probability: 1,
      detail: "Cannot get Disk. Busy.",
    });
    for (let i = 0; i < 3; i++)
      expect((await t.api.get(`/disks/${disk.id}`)).json.detail).toBe("[Cannot get Disk. Busy.]");
    h.remove();
    expect((await t.api.get(`/disks/${disk.id}`)).status).toBe(200);
    t.sim.faults.failOperation("disks.get", { status: 409, probability: 0, times: 5 });
    expect((await t.api.get(`/disks/${disk.id}`)).status).toBe(200);
    t.sim.faults.clear();

    const tr = await startTransfer(t.api, { direction: "download", disk: { id: disk.id } });
    t.sim.faults.failOperation("images.get", { status: 500 });
    const r = await io(t.api.agent, "GET", tr.transfer_url, { headers: { range: "bytes=0-9" } });
    expect(r.status).toBe(500);
    expect(r.headers["content-type"]).toBe("text/plain; charset=UTF-8");
    expect((await io(t.api.agent, "GET", tr.transfer_url, { headers: { range: "bytes=0-9" } })).status).toBe(
      206,
    );
    await finalize(t.api, tr.id);
  });

  it("adds latency to matching requests until removed", async () => {
    const h = t.sim.faults.addLatency({ ms: 30, target: "engine", op: "vms.list" });
    expect((await t.api.get("/vms")).status).toBe(200);
    expect((await t.api.get("/vms")).status).toBe(200);
    expect(t.sim.faults.list().find((f) => f.id === h.id)?.fired).toBe(2);
    h.remove();
    expect(t.sim.faults.list()).toEqual([]);
  });

  it("holds a transfer in a phase and makes transfer_url unreachable", async () => {
    const hold = t.sim.faults.holdTransfer({ phase: "initializing" });
    const add = await t.api.post("/imagetransfers", { direction: "download", disk: { id: disk.id } });
    await new Promise((r) => setTimeout(r, 300));
    expect((await t.api.ok(`/imagetransfers/${add.json.id}`)).phase).toBe("initializing");
    hold.remove();
    await waitPhase(t.api, add.json.id, ["transferring"]);
    const unreachable = t.sim.faults.makeTransferUrlUnreachable();
    const tr = await t.api.ok(`/imagetransfers/${add.json.id}`);
    await expect(
      io(t.api.agent, "GET", tr.transfer_url, { headers: { range: "bytes=0-0" } }),
    ).rejects.toThrow();
    expect((await io(t.api.agent, "GET", tr.proxy_url, { headers: { range: "bytes=0-0" } })).status).toBe(
      206,
    );
    unreachable.remove();
    const fin = t.sim.faults.holdTransfer({ phase: "finalizing_success", transferId: add.json.id });
    await t.api.post(`/imagetransfers/${add.json.id}/finalize`, {});
    await new Promise((r) => setTimeout(r, 200));
    expect((await t.api.ok(`/imagetransfers/${add.json.id}`)).phase).toBe("finalizing_success");
    fin.remove();
    await waitPhase(t.api, add.json.id, ["finished_success"]);
  });

  it("fails upload verification on demand", async () => {
    const d = await addDisk(t.api, {
      name: "verify",
      provisioned_size: String(MiB),
      format: "raw",
      sparse: "true",
      storage_domains: { storage_domain: [{ name: "data1" }] },
    });
    const tr = await startTransfer(t.api, { direction: "upload", disk: { id: d.id } });
    t.sim.faults.failOperation("imagetransfers.verify", { status: 500 });
    expect((await finalize(t.api, tr.id)).phase).toBe("finished_failure");
    await t.api.waitFor(`/disks/${d.id}`, (_j, status) => status === 404);
  });

  it("is driven over the admin endpoint with the token from sim.json", async () => {
    const admin = (
      method: "GET" | "POST" | "DELETE",
      path: string,
      body?: unknown,
      token = t.sim.adminToken,
    ) =>
      request(`${t.sim.adminUrl}${path}`, {
        method,
        dispatcher: t.api.agent,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const denied = await admin("GET", "/faults", undefined, "wrong");
    expect(denied.statusCode).toBe(401);
    await denied.body.dump();
    const added = await admin("POST", "/faults", { kind: "fail", op: "disks.list", status: 500 });
    expect(added.statusCode).toBe(201);
    const { id } = (await added.body.json()) as { id: string };
    expect((await t.api.get("/disks")).status).toBe(500);
    const invalid = await admin("POST", "/faults", { kind: "fail", op: "x", status: 200 });
    expect(invalid.statusCode).toBe(400);
    await invalid.body.dump();
    await admin("POST", "/faults", { kind: "latency", ms: 1 }).then((r) => r.body.dump());
    const list = (await (await admin("GET", "/faults")).body.json()) as { faults: Json[] };
    expect(list.faults.map((f) => f.kind)).toEqual(["latency"]);
    expect(list.faults.map((f) => f.id)).not.toContain(id);
    const cleared = await admin("DELETE", "/faults");
    expect(cleared.statusCode).toBe(204);
    await cleared.body.dump();
    expect(t.sim.faults.list()).toEqual([]);
  });
});
