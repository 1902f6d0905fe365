import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../src/index";
import { EngineHttp, type Json, startTestSim, type TestSim } from "./support/sim";

let t: TestSim;
const clock = new ManualClock();

beforeAll(async () => {
  t = await startTestSim({ clock, tokenTtlMs: 60_000 });
});
afterAll(async () => {
  await t.stop();
});

const isLink = (l: Json) => typeof l.href === "string" && typeof l.id === "string" && l.href.endsWith(l.id);
const strBool = (v: unknown) => v === "true" || v === "false";
const strInt = (v: unknown) => typeof v === "string" && /^\d+$/.test(v);

describe("TLS, CA and SSO", () => {
  it("serves the CA without authentication and verifies the server certificate against it", async () => {
    const url = t.sim.engineUrl.replace(
      /\/api$/,
      "/services/pki-resource?resource=ca-certificate&format=X509-PEM-CA",
    );
    const r = await request(url, { dispatcher: t.api.agent });
    expect(r.statusCode).toBe(200);
    expect(await r.body.text()).toBe(t.sim.caPem);
    // Without the CA the default trust store rejects the certificate.
    await expect(request(url)).rejects.toThrow(/certificate/i);
  });

  it("issues bearer tokens with the engine's shape", async () => {
    const a = await t.api.sso({
      grant_type: "password",
      scope: "ovirt-app-api",
      username: "admin@internal",
      password: t.sim.adminPassword,
    });
    expect(a.status).toBe(200);
    expect(a.json.token_type).toBe("bearer");
    expect(a.json.scope).toContain("ovirt-app-api");
    expect(typeof a.json.access_token).toBe("string");
    expect(strInt(a.json.exp)).toBe(true);
    expect(Number(a.json.exp)).toBeGreaterThan(clock.now());
  });

  it("answers both SSO error shapes", async () => {
    const bad = await t.api.sso({
      grant_type: "password",
      scope: "ovirt-app-api",
      username: "admin@internal",
      password: "nope",
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error_code).toBe("access_denied");
    expect(bad.json.error).toMatch(/Cannot authenticate user/);
    const scope = await t.api.sso({
      grant_type: "password",
      scope: "something-else",
      username: "admin@internal",
      password: "x",
    });
    expect(scope.status).toBe(400);
    expect(Object.keys(scope.json).sort()).toEqual(["error", "error_description"]);
    const missing = await t.api.sso({ grant_type: "password", scope: "ovirt-app-api", password: "x" });
    expect(missing.json).toEqual({ error_code: "invalid_request", error: "Missing parameter: 'username'" });
  });

  it("answers 401 without credentials, with a bad or expired token; accepts Basic", async () => {
    const url = `${t.sim.engineUrl}/vms`;
    const none = await request(url, { dispatcher: t.api.agent, headers: { accept: "application/json" } });
    expect(none.statusCode).toBe(401);
    await none.body.dump();
    const bad = await request(url, {
      dispatcher: t.api.agent,
      headers: { accept: "application/json", authorization: "Bearer nope" },
    });
    expect(bad.statusCode).toBe(401);
    await bad.body.dump();
    const basic = Buffer.from(`admin@internal:${t.sim.adminPassword}`).toString("base64");
    const ok = await request(url, {
      dispatcher: t.api.agent,
      headers: { accept: "application/json", authorization: `Basic ${basic}` },
    });
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
    const client = new EngineHttp(t.sim);
    const token = await client.login();
    const withToken = async () =>
      (await client.req("GET", "/vms", undefined, { authorization: `Bearer ${token}` })).status;
    expect(await withToken()).toBe(200);
    clock.advance(59_000);
    expect(await withToken()).toBe(200); // use refreshes the idle timeout
    clock.advance(61_000);
    expect(await withToken()).toBe(401);
    // Revoked tokens are refused too; a new login works.
    const again = await client.login();
    t.sim.revokeTokens();
    expect((await client.req("GET", "/vms", undefined, { authorization: `Bearer ${again}` })).status).toBe(
      401,
    );
    expect((await client.get("/vms")).status).toBe(200);
    await client.close();
  });

  it("keeps a session with Prefer: persistent-auth and ends it on a request without it", async () => {
    const basic = Buffer.from(`admin@internal:${t.sim.adminPassword}`).toString("base64");
    const first = await request(`${t.sim.engineUrl}/vms`, {
      dispatcher: t.api.agent,
      headers: { accept: "application/json", authorization: `Basic ${basic}`, prefer: "persistent-auth" },
    });
    await first.body.dump();
    const cookie = String(first.headers["set-cookie"]).split(";")[0] as string;
    expect(cookie).toMatch(/^JSESSIONID=/);
    const again = async (prefer: boolean) => {
      const r = await request(`${t.sim.engineUrl}/vms`, {
        dispatcher: t.api.agent,
        headers: { accept: "application/json", cookie, ...(prefer ? { prefer: "persistent-auth" } : {}) },
      });
      await r.body.dump();
      return r.statusCode;
    };
    expect(await again(true)).toBe(200);
    expect(await again(false)).toBe(200);
    expect(await again(true)).toBe(401);
  });

  it("speaks JSON only when asked for it", async () => {
    const r = await t.api.req("GET", "/vms", undefined, { accept: "application/xml" });
    expect(r.status).toBe(406);
  });
});

describe("JSON as the engine writes it", () => {
  it("lists VMs with string booleans and integers, epoch-ms dates, links and actions", async () => {
    const list = await t.api.ok("/vms");
    expect(Object.keys(list)).toEqual(["vm"]);
    expect(list.vm).toHaveLength(3);
    for (const vm of list.vm) {
      expect(vm.href).toBe(`/ovirt-engine/api/vms/${vm.id}`);
      expect(strInt(vm.memory)).toBe(true);
      expect(strBool(vm.stateless)).toBe(true);
      expect(strInt(vm.cpu.topology.sockets)).toBe(true);
      expect(typeof vm.creation_time).toBe("number");
      expect(isLink(vm.cluster)).toBe(true);
      expect(isLink(vm.template)).toBe(true);
      expect(vm.actions.link.map((l: Json) => l.rel)).toContain("shutdown");
      expect(vm.link.find((l: Json) => l.rel === "diskattachments").href).toBe(`${vm.href}/diskattachments`);
      expect(vm.initialization).toBeUndefined();
      expect(["up", "down"]).toContain(vm.status);
    }
  });

  it("returns {} for an empty collection and a fault for a missing entity", async () => {
    expect(await t.api.ok("/imagetransfers")).toEqual({});
    expect(await t.api.ok("/vms?search=name%3Dnothing-here")).toEqual({});
    const missing = await t.api.get("/vms/00000000-0000-4000-8000-000000000bad");
    expect(missing.status).toBe(404);
    expect(Object.keys(missing.json).sort()).toEqual(["detail", "reason"]);
    const route = await t.api.get("/nothing");
    expect(route.status).toBe(404);
  });

  it("searches by name with wildcards, by id, case sensitively unless told otherwise, and honours max", async () => {
    const names = async (q: string) =>
      ((await t.api.ok(`/vms?${q}`)).vm ?? []).map((v: Json) => v.name).sort();
    expect(await names("search=name%3Dweb01")).toEqual(["web01"]);
    expect(await names("search=name%3D*01")).toEqual(["app01", "db01", "web01"]);
    expect(await names("search=name%3DWEB01")).toEqual([]);
    expect(await names("search=name%3DWEB01&case_sensitive=false")).toEqual(["web01"]);
    expect(await names("search=name%3Dweb01%20or%20name%3Ddb01")).toEqual(["db01", "web01"]);
    expect(await names("search=status%3Dup")).toEqual(["web01"]);
    const web = await t.api.vmByName("web01");
    expect(await names(`search=${encodeURIComponent(`id=${web.id}`)}`)).toEqual(["web01"]);
    expect((await t.api.ok("/vms?max=1")).vm).toHaveLength(1);
    expect((await t.api.get("/vms?search=bogus%3Dx")).status).toBe(400);
    const sd = await t.api.ok("/storagedomains?search=name%3Ddata1");
    expect(sd.storage_domain).toHaveLength(1);
    expect(sd.storage_domain[0].storage.type).toBe("nfs");
    expect(strInt(sd.storage_domain[0].available)).toBe(true);
    const dc = await t.api.ok("/datacenters?search=storage.name%3Ddata1");
    expect(dc.data_center[0].name).toBe("Default");
  });

  it("adds the OVF with all_content and inlines links with follow", async () => {
    const db = await t.api.vmByName("db01");
    const full = await t.api.ok(`/vms/${db.id}?all_content=true&follow=disk_attachments.disk`);
    expect(full.initialization.configuration.type).toBe("ovf");
    expect(
      full.initialization.configuration.data.startsWith(
        '<?xml version="1.0" encoding="UTF-8"?><ovf:Envelope',
      ),
    ).toBe(true);
    const atts = full.disk_attachments.disk_attachment;
    expect(atts).toHaveLength(2);
    for (const a of atts) {
      expect(a.id).toBe(a.disk.id);
      expect(strBool(a.bootable)).toBe(true);
      expect(strInt(a.disk.provisioned_size)).toBe(true);
      expect(a.disk.image_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(a.disk.storage_domains.storage_domain[0].id).toMatch(/^[0-9a-f-]{36}$/);
    }
    const formats = atts.map((a: Json) => a.disk.format).sort();
    expect(formats).toEqual(["cow", "raw"]);
    expect(atts.find((a: Json) => a.disk.format === "cow").disk.qcow_version).toBe("qcow2_v3");
    // Header form of all_content, as old engines needed.
    const viaHeader = await t.api.req("GET", `/vms/${db.id}`, undefined, { "all-content": "true" });
    expect(viaHeader.json.initialization.configuration.type).toBe("ovf");
    expect((await t.api.get(`/vms/${db.id}?follow=nope`)).status).toBe(400);
  });

  it("lists disk snapshots with and without the active volume, linked by parent", async () => {
    const app = await t.api.vmByName("app01");
    const disk = (await t.api.ok(`/vms/${app.id}/diskattachments?follow=disk`)).disk_attachment[0].disk;
    const without = (await t.api.ok(`/disks/${disk.id}/disksnapshots`)).disk_snapshot;
    const withActive = (await t.api.ok(`/disks/${disk.id}/disksnapshots?include_active=true`)).disk_snapshot;
    expect(without).toHaveLength(2);
    expect(withActive).toHaveLength(3);
    expect(withActive.map((s: Json) => s.id)).toContain(disk.image_id);
    expect(without.map((s: Json) => s.id)).not.toContain(disk.image_id);
    for (const s of withActive) {
      expect(s.image_id).toBeUndefined();
      expect(s.disk.id).toBe(disk.id);
      expect(s.snapshot.id).toMatch(/^[0-9a-f-]{36}$/);
    }
    const base = withActive.find((s: Json) => !s.parent);
    expect(base).toBeDefined();
    expect(withActive.filter((s: Json) => s.parent?.id === base.id)).toHaveLength(1);
    const sd = disk.storage_domains.storage_domain[0].id;
    const onDomain = (await t.api.ok(`/storagedomains/${sd}/disksnapshots?include_active=true`))
      .disk_snapshot;
    expect(onDomain.filter((s: Json) => s.disk.id === disk.id)).toHaveLength(3);
    const one = await t.api.ok(`/storagedomains/${sd}/disksnapshots/${base.id}`);
    expect(one.id).toBe(base.id);
    // The snapshot's disks carry that snapshot's volume as image_id.
    const snaps = (await t.api.ok(`/vms/${app.id}/snapshots`)).snapshot;
    const regular = snaps.find((s: Json) => s.id === base.snapshot.id);
    expect(regular.snapshot_type).toBe("regular");
    const sdisks = await t.api.ok(`/vms/${app.id}/snapshots/${regular.id}/disks`);
    expect(sdisks.disk[0].image_id).toBe(base.id);
  });

  it("answers 409 faults in the engine's words and 400 for incomplete input", async () => {
    const noSize = await t.api.post("/disks", {
      name: "x",
      format: "cow",
      storage_domains: { storage_domain: [{ name: "data1" }] },
    });
    expect(noSize.status).toBe(400);
    expect(noSize.json.reason).toBe("Incomplete parameters");
    expect(noSize.json.detail).toMatch(/provisionedSize/);
    const web = await t.api.vmByName("web01");
    const dup = await t.api.post("/vms", { name: "web01", cluster: { name: "Default" } });
    expect(dup.status).toBe(409);
    expect(dup.json).toEqual({
      reason: "Operation Failed",
      detail: "[Cannot add VM. The VM name is already in use, please choose a unique name and try again.]",
    });
    const gone = await t.api.del(`/vms/${web.id}/snapshots/00000000-0000-4000-8000-000000000bad`);
    expect(gone.status).toBe(404);
    const broken = await request(`${t.sim.engineUrl}/disks`, {
      method: "POST",
      dispatcher: t.api.agent,
      headers: {
        accept: "application/json",
        "content-type": "application/json",
        authorization: `Basic ${Buffer.from(`admin@internal:${t.sim.adminPassword}`).toString("base64")}`,
      },
      body: "{not json",
    });
    expect(broken.statusCode).toBe(400);
    await broken.body.dump();
  });
});

describe("plain HTTP", () => {
  it("serves the same API without TLS", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "ovirt-sim-http-"));
    const h = await startTestSim({ http: true, seed: false }, dir);
    try {
      expect(h.sim.engineUrl).toMatch(/^http:\/\//);
      expect(await h.api.ok("/vms")).toEqual({});
      expect((await h.api.ok("/storagedomains")).storage_domain).toHaveLength(2);
    } finally {
      await h.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
