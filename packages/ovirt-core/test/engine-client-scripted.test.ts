/**
 * The engine client's reading of answers the simulator never gives (see engine-client.test.ts for the rest,
 * against the simulator): tokens in one-element arrays, OAuth-shaped SSO errors, nested faults in a 200, a
 * proxy's HTML error page, connection resets, integers beyond 2^53, `{}` and "TRUE", entities without an id.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EngineAuthError, EngineClient, type EngineClientOptions, EngineError } from "../src/engine";
import { diskJson, fault, ids, snapshotJson } from "./support/engine-fixtures";
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
  it("accepts the token wrapped in a one-element array", async () => {
    await server.close();
    server = await ScriptedServer.start(pki, { tokenAsArray: true });
    server.route("GET", "/vms", { json: {} });
    expect(await client().vms.list()).toEqual([]);
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
});

describe("faults", () => {
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
