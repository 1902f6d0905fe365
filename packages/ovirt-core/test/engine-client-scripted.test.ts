import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  correlationIdOf,
  EngineAuthError,
  EngineClient,
  type EngineClientOptions,
  EngineError,
} from "../src/engine";
import { diskJson, fault, ids, snapshotJson, vmJson } from "./support/engine-fixtures";
import { makePki, type TestPki } from "./support/pki";
import { ScriptedServer } from "./support/scripted-server";

let pki: TestPki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.cleanup());

let server: ScriptedServer;
let clients: EngineClient[] = [];
beforeEach(async () => {
  server = await ScriptedServer.start(pki);
});
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await server.close();
});

function client(over: Partial<EngineClientOptions> = {}): EngineClient {
  const c = new EngineClient({
    url: server.url,
    username: server.opts.username,
    password: server.opts.password,
    caPem: pki.caPem,
    retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
    pollIntervalMs: 5,
    ...over,
  });
  clients.push(c);
  return c;
}

describe("SSO authentication", () => {
  it("logs in with a form-encoded password grant and reuses the token", async () => {
    server.route("GET", "/vms", { json: { vm: [vmJson()] } });
    const engine = client();
    await engine.vms.list();
    await engine.vms.list();
    expect(server.ssoRequests).toHaveLength(1);
    const sso = server.ssoRequests[0]!;
    expect(sso.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(sso.headers.accept).toBe("application/json");
    // `@`, `&` and `=` are percent-encoded in the form (ref §2.1).
    expect(sso.body).toContain("username=admin%40internal");
    expect(sso.body).toContain("password=s3cret%26%3Dx");
    expect(new URLSearchParams(sso.body).get("scope")).toBe("ovirt-app-api");
    const api = server.requests[0]!;
    expect(api.headers.version).toBe("4");
    expect(api.headers.accept).toBe("application/json");
    expect(String(api.headers.authorization)).toMatch(/^Bearer \S+$/);
    expect(server.requests[1]!.headers.authorization).toBe(api.headers.authorization);
  });

  it("accepts the token wrapped in a one-element array", async () => {
    await server.close();
    server = await ScriptedServer.start(pki, { tokenAsArray: true });
    server.route("GET", "/vms", { json: {} });
    expect(await client().vms.list()).toEqual([]);
  });

  it("reports oVirt-shaped SSO errors with the engine's words and code, never the password", async () => {
    const engine = client({ password: "wrong-Passw0rd" });
    const err = await engine.vms.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineAuthError);
    const e = err as EngineAuthError;
    expect(e.status).toBe(400);
    expect(e.reason).toBe("access_denied");
    expect(e.message).toContain("Cannot authenticate user 'admin@internal'");
    expect(e.message).not.toContain("wrong-Passw0rd");
    expect(server.requests).toHaveLength(0);
  });

  it("reports standard OAuth-shaped SSO errors (error + error_description)", async () => {
    await server.close();
    server = await ScriptedServer.start(pki, { ssoErrorShape: "oauth" });
    const err = (await client({ password: "nope" })
      .vms.list()
      .catch((e: unknown) => e)) as EngineAuthError;
    expect(err).toBeInstanceOf(EngineAuthError);
    expect(err.reason).toBe("access_denied");
    expect(err.message).toMatch(/^engine SSO login failed: Cannot authenticate user/);
  });

  it("logs in again once when the session expired (401), then succeeds, never logging secrets", async () => {
    server.route("GET", "/vms", { json: { vm: [vmJson()] } });
    const lines: string[] = [];
    const engine = client({ logger: (l) => lines.push(l) });
    await engine.vms.list();
    server.expireTokens();
    const vms = await engine.vms.list();
    expect(lines.join("\n")).toContain("401, logging in again");
    const token = String(server.requests[0]!.headers.authorization).slice(7);
    expect(lines.join("\n")).not.toContain(token);
    expect(lines.join("\n")).not.toContain(server.opts.password);
    expect(vms[0]?.name).toBe("db01");
    expect(server.ssoRequests).toHaveLength(2);
    expect(
      server.requests.map((r) => r.headers.authorization === server.requests[0]!.headers.authorization),
    ).toEqual([true, true, false]);
  });

  it("gives up after one re-login when the engine keeps answering 401", async () => {
    server.route("GET", "/vms", { status: 401, text: "" });
    const err = (await client()
      .vms.list()
      .catch((e: unknown) => e)) as EngineError;
    expect(err).toBeInstanceOf(EngineError);
    expect(err.status).toBe(401);
    expect(err.isAuth).toBe(true);
    expect(server.ssoRequests).toHaveLength(2);
    expect(server.calls("GET", "/vms")).toBe(2);
  });

  it("uses Basic auth on every request when asked, without SSO", async () => {
    server.route("GET", "/vms", { json: {} });
    await client({ auth: "basic" }).vms.list();
    expect(server.ssoRequests).toHaveLength(0);
    const auth = String(server.requests[0]!.headers.authorization);
    expect(Buffer.from(auth.replace(/^Basic /, ""), "base64").toString()).toBe("admin@internal:s3cret&=x");
  });

  it("revokes the token on close", async () => {
    server.route("GET", "/vms", { json: {} });
    const engine = client();
    await engine.vms.list();
    const token = String(server.requests[0]!.headers.authorization).slice(7);
    await engine.close();
    expect(server.logoutRequests).toHaveLength(1);
    expect(new URLSearchParams(server.logoutRequests[0]!.body).get("token")).toBe(token);
  });
});

describe("faults", () => {
  it("turns a fault into an EngineError with status, reason, detail, method and path in the SDK's words", async () => {
    server.route("POST", `/vms/${ids.vm}/snapshots`, {
      status: 409,
      json: fault("[Cannot create Snapshot. The VM name is already in use.]"),
    });
    const err = (await client()
      .snapshots.add(ids.vm, { description: "x" })
      .catch((e: unknown) => e)) as EngineError;
    expect(err).toBeInstanceOf(EngineError);
    expect(err.status).toBe(409);
    expect(err.reason).toBe("Operation Failed");
    expect(err.detail).toBe("[Cannot create Snapshot. The VM name is already in use.]");
    expect(err.method).toBe("POST");
    expect(err.path).toBe(`/vms/${ids.vm}/snapshots`);
    expect(err.message).toBe(
      `Fault reason is "Operation Failed". Fault detail is "[Cannot create Snapshot. The VM name is already in use.]". HTTP response code is 409. (POST /vms/${ids.vm}/snapshots)`,
    );
    expect(server.calls("POST", `/vms/${ids.vm}/snapshots`)).toBe(1);
  });

  it("maps 404 to a not-found EngineError", async () => {
    const err = (await client()
      .disks.get(ids.disk)
      .catch((e: unknown) => e)) as EngineError;
    expect(err.isNotFound).toBe(true);
    expect(err.detail).toContain("Entity not found");
  });

  it("fails on an action answered 200 with a nested fault", async () => {
    server.route("POST", `/imagetransfers/${ids.transfer}/finalize`, {
      json: { status: "failed", fault: fault("[Cannot finalize: ticket is in use]") },
    });
    const err = (await client()
      .imageTransfers.finalize(ids.transfer)
      .catch((e: unknown) => e)) as EngineError;
    expect(err).toBeInstanceOf(EngineError);
    expect(err.detail).toBe("[Cannot finalize: ticket is in use]");
    expect(err.path).toBe(`/imagetransfers/${ids.transfer}/finalize`);
  });

  it("keeps the first line of a non-JSON error page (a proxy's 502)", async () => {
    server.route("POST", "/disks", {
      status: 502,
      text: "<html><head><title>502 Proxy Error</title></head><body>The proxy server received an invalid response</body></html>",
    });
    const err = (await client()
      .disks.add({ format: "raw", sparse: false, provisionedSize: 1n, storageDomain: { name: "data1" } })
      .catch((e: unknown) => e)) as EngineError;
    expect(err.status).toBe(502);
    expect(err.message).toContain("502 Proxy Error");
    expect(server.calls("POST", "/disks")).toBe(1);
  });
});

describe("retries", () => {
  it("retries a GET answered 409 'locked' and succeeds", async () => {
    const locked = { status: 409, json: fault("[Cannot get Disk. Disk db01_Disk1 is locked.]") };
    server.route("GET", `/disks/${ids.disk}`, locked, locked, { json: diskJson() });
    const disk = await client().disks.get(ids.disk);
    expect(disk.id).toBe(ids.disk);
    expect(server.calls("GET", `/disks/${ids.disk}`)).toBe(3);
  });

  it("retries 503 on an idempotent call, fails fast on a non-idempotent one", async () => {
    server.route("GET", "/vms", { status: 503, text: "Service Unavailable" }, { json: { vm: [vmJson()] } });
    expect(await client().vms.list()).toHaveLength(1);
    expect(server.calls("GET", "/vms")).toBe(2);

    server.route("POST", `/vms/${ids.vm}/snapshots`, { status: 503, text: "Service Unavailable" });
    await expect(client().snapshots.add(ids.vm, { description: "x" })).rejects.toMatchObject({ status: 503 });
    expect(server.calls("POST", `/vms/${ids.vm}/snapshots`)).toBe(1);
  });

  it("fails fast with the engine's words on 500 for a non-idempotent call", async () => {
    server.route("POST", "/imagetransfers", { status: 500, json: fault("[Internal Engine Error]") });
    await expect(client().imageTransfers.add({ direction: "download", disk: ids.disk })).rejects.toThrow(
      'Fault detail is "[Internal Engine Error]". HTTP response code is 500.',
    );
    expect(server.calls("POST", "/imagetransfers")).toBe(1);
  });

  it("does not retry a 409 that is not about a lock", async () => {
    server.route("GET", `/vms/${ids.vm}`, { status: 409, json: fault("[Cannot do it. Wrong cluster.]") });
    await expect(client().vms.get(ids.vm)).rejects.toMatchObject({ status: 409 });
    expect(server.calls("GET", `/vms/${ids.vm}`)).toBe(1);
  });

  it("stops after the configured number of attempts with the engine's words", async () => {
    server.route("DELETE", `/vms/${ids.vm}/snapshots/${ids.snap}`, {
      status: 409,
      json: fault("[Cannot remove Snapshot. Disk db01_Disk1 is being transferred.]"),
    });
    await expect(client().snapshots.remove(ids.vm, ids.snap)).rejects.toThrow("is being transferred");
    expect(server.calls("DELETE", `/vms/${ids.vm}/snapshots/${ids.snap}`)).toBe(4);
  });

  it("retries a GET whose connection was reset; a POST with a reset fails at once", async () => {
    server.route(
      "GET",
      `/vms/${ids.vm}/snapshots`,
      { reset: true },
      { json: { snapshot: [snapshotJson()] } },
    );
    const snaps = await client().snapshots.list(ids.vm);
    expect(snaps[0]?.description).toBe("backup-2024-05-01T02:00Z");
    expect(server.calls("GET", `/vms/${ids.vm}/snapshots`)).toBe(2);

    server.route("POST", "/disks", { reset: true });
    const err = (await client()
      .disks.add({ format: "raw", sparse: false, provisionedSize: 1n, storageDomain: { id: ids.sd } })
      .catch((e: unknown) => e)) as EngineError;
    expect(err).toBeInstanceOf(EngineError);
    expect(err.status).toBe(0);
    expect(server.calls("POST", "/disks")).toBe(1);
  });

  it("counts a 404 on a retried DELETE as done (an earlier attempt removed it)", async () => {
    server.route(
      "DELETE",
      `/disks/${ids.disk}`,
      { status: 503, text: "busy" },
      { status: 404, json: fault("gone") },
    );
    await client().disks.remove(ids.disk);
    expect(server.calls("DELETE", `/disks/${ids.disk}`)).toBe(2);
  });
});

describe("TLS", () => {
  it("refuses a server whose certificate the given CA did not sign, without retrying", async () => {
    server.route("GET", "/vms", { json: {} });
    const err = (await client({ caPem: pki.otherCaPem })
      .vms.list()
      .catch((e: unknown) => e)) as EngineError;
    expect(err).toBeInstanceOf(EngineError);
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/certificate/i);
    expect(server.ssoRequests).toHaveLength(0);
  });

  it("refuses an unknown CA by default (system store only)", async () => {
    await expect(client({ caPem: undefined }).vms.list()).rejects.toThrow(/certificate/i);
  });

  it("refuses a plain http engine URL unless insecure", () => {
    expect(() => client({ url: `http://127.0.0.1:${server.port}/ovirt-engine/api` })).toThrow(
      /must be https/,
    );
    expect(client({ url: `http://127.0.0.1:${server.port}`, insecure: true }).baseUrl).toBe(
      `http://127.0.0.1:${server.port}/ovirt-engine/api`,
    );
  });

  it("accepts any certificate only with insecure: true", async () => {
    server.route("GET", "/vms", { json: { vm: [vmJson()] } });
    expect(await client({ caPem: pki.otherCaPem, insecure: true }).vms.list()).toHaveLength(1);
  });
});

describe("JSON as the engine writes it", () => {
  it("parses string integers beyond 2^53 exactly as bigint", async () => {
    server.route("GET", `/disks/${ids.disk}`, {
      json: diskJson({ provisioned_size: "18446744073709551615", actual_size: "9007199254740993" }),
    });
    const disk = await client().disks.get(ids.disk);
    expect(disk.provisionedSize).toBe(18446744073709551615n);
    expect(disk.actualSize).toBe(9007199254740993n);
  });

  it("refuses a size sent as a JSON number beyond 2^53 (already imprecise) with a clear error", async () => {
    server.route("GET", `/disks/${ids.disk}`, { json: diskJson({ provisioned_size: 2 ** 60 }) });
    await expect(client().disks.get(ids.disk)).rejects.toThrow(
      /unexpected engine answer to GET \/disks\/.*provisioned_size: .*beyond 2\^53/,
    );
  });

  it('reads `{}` as an empty list and `"false"` / true / "TRUE" as booleans', async () => {
    server.route("GET", `/vms/${ids.vm}/snapshots`, { json: {} });
    server.route("GET", `/disks/${ids.disk}`, {
      json: diskJson({ sparse: true, shareable: "TRUE", storage_domains: {} }),
    });
    const engine = client();
    expect(await engine.snapshots.list(ids.vm)).toEqual([]);
    const disk = await engine.disks.get(ids.disk);
    expect(disk.sparse).toBe(true);
    expect(disk.shareable).toBe(true);
    expect(disk.storageDomains).toEqual([]);
  });

  it("refuses an entity without an id", async () => {
    server.route("GET", "/vms", { json: { vm: [{ name: "no-id" }] } });
    await expect(client().vms.list()).rejects.toThrow(/vm\.0\.id/);
  });
});

describe("correlation ids", () => {
  it("are made acceptable to the engine: only a-z A-Z 0-9 - _, at most 50 characters", () => {
    expect(correlationIdOf("job 1b9e0c2a-77aa-4f0e-9d55-0f6f1c3e2b11")).toBe(
      "job-1b9e0c2a-77aa-4f0e-9d55-0f6f1c3e2b11",
    );
    expect(correlationIdOf("cli restore ab12cd34")).toBe("cli-restore-ab12cd34");
    expect(correlationIdOf(`restore of "web01" ${"x".repeat(80)}`)).toMatch(/^restore-of-web01-x+$/);
    expect(correlationIdOf("x".repeat(80))).toHaveLength(50);
    expect(correlationIdOf("«»")).toBe("lifeboat");
  });

  it("are sent in that form", async () => {
    const c = client();
    server.route("POST", "/vms/vm-1/snapshots", {
      status: 202,
      json: snapshotJson({ id: "s1", snapshot_status: "locked" }),
    });
    await c.snapshots.add("vm-1", { description: "d", correlationId: "job 42" });
    const sent = server.requests.find((r) => r.path === "/vms/vm-1/snapshots");
    expect(sent?.query.get("correlation_id")).toBe("job-42");
  });
});
