import { writeFileSync } from "node:fs";
import { type Simulator, startSimulator } from "@lifeboat/ovirt-sim";
import { type EngineRecorder, FAST_SIM, makeUnrelatedCa, recordEngine } from "@lifeboat/ovirt-sim/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  correlationIdOf,
  EngineAuthError,
  EngineClient,
  type EngineClientOptions,
  EngineError,
} from "../src/engine";
import { tempDir } from "./support/images";

/**
 * The engine client against the simulated engine: SSO, Basic auth, faults and retries (the simulator's `fail`
 * faults), TLS, correlation ids; what the client sent from the simulator's engine recorder. Answers the
 * simulator never gives are in engine-client-scripted.test.ts.
 */
const PASSWORD = "s3cret&=x";
const UNKNOWN = "d1d1d1d1-0000-4000-8000-00000000d001";

let tmp: ReturnType<typeof tempDir>;
let sim: Simulator;
let otherCaPem: string;
let vmId: string;
let diskId: string;
beforeAll(async () => {
  tmp = tempDir("lifeboat-engine-client-");
  // The admin password the simulator takes from its data dir: with `&` and `=`, which the form must encode.
  writeFileSync(tmp.file("admin-password"), `${PASSWORD}\n`);
  sim = await startSimulator({ dataDir: tmp.dir, ...FAST_SIM });
  otherCaPem = makeUnrelatedCa(tmp.file("other-ca")).caPem;
  const vm = sim.state.vm("db01");
  if (!vm) throw new Error("no db01 in the seed");
  vmId = vm.id;
  const disk = sim.state.disks().find((d) => d.alias.startsWith("db01"));
  if (!disk) throw new Error("no disk of db01 in the seed");
  diskId = disk.id;
});
afterAll(async () => {
  await sim.stop();
  tmp.cleanup();
});

let log: EngineRecorder;
let clients: EngineClient[] = [];
beforeEach(() => {
  log = recordEngine(sim);
});
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  sim.faults.clear();
});

function client(over: Partial<EngineClientOptions> = {}): EngineClient {
  const c = new EngineClient({
    url: sim.engineUrl,
    username: sim.adminUser,
    password: sim.adminPassword,
    caPem: sim.caPem,
    retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
    pollIntervalMs: 5,
    ...over,
  });
  clients.push(c);
  return c;
}

const api = () => log.requests.filter((r) => r.kind === "api");
const sso = () => log.requests.filter((r) => r.kind === "sso");

describe("SSO authentication", () => {
  it("logs in with a form-encoded password grant and reuses the token", async () => {
    const engine = client();
    await engine.vms.list();
    await engine.vms.list();
    expect(sso()).toHaveLength(1);
    const login = sso()[0]!;
    expect(login.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(login.headers.accept).toBe("application/json");
    // `@`, `&` and `=` are percent-encoded in the form (ref §2.1).
    expect(login.body).toContain("username=admin%40internal");
    expect(login.body).toContain("password=s3cret%26%3Dx");
    expect(new URLSearchParams(login.body).get("scope")).toBe("ovirt-app-api");
    const first = api()[0]!;
    expect(first.headers.version).toBe("4");
    expect(first.headers.accept).toBe("application/json");
    expect(String(first.headers.authorization)).toMatch(/^Bearer \S+$/);
    expect(api()[1]!.headers.authorization).toBe(first.headers.authorization);
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
    expect(api()).toHaveLength(0);
  });

  it("logs in again once when the session expired (401), then succeeds, never logging secrets", async () => {
    const lines: string[] = [];
    const engine = client({ logger: (l) => lines.push(l) });
    await engine.vms.list();
    sim.revokeTokens();
    const vms = await engine.vms.list();
    expect(lines.join("\n")).toContain("401, logging in again");
    const token = String(api()[0]!.headers.authorization).slice(7);
    expect(lines.join("\n")).not.toContain(token);
    expect(lines.join("\n")).not.toContain(PASSWORD);
    expect(vms.map((v) => v.name)).toContain("db01");
    expect(sso()).toHaveLength(2);
    expect(api().map((r) => r.headers.authorization === api()[0]!.headers.authorization)).toEqual([
      true,
      true,
      false,
    ]);
  });

  it("gives up after one re-login when the engine keeps answering 401", async () => {
    sim.faults.failOperation("vms.list", { status: 401, times: 2 });
    const err = (await client()
      .vms.list()
      .catch((e: unknown) => e)) as EngineError;
    expect(err).toBeInstanceOf(EngineError);
    expect(err.status).toBe(401);
    expect(err.isAuth).toBe(true);
    expect(sso()).toHaveLength(2);
    expect(log.calls("GET", "/vms")).toBe(2);
  });

  it("uses Basic auth on every request when asked, without SSO", async () => {
    await client({ auth: "basic" }).vms.list();
    expect(sso()).toHaveLength(0);
    const auth = String(api()[0]!.headers.authorization);
    expect(Buffer.from(auth.replace(/^Basic /, ""), "base64").toString()).toBe(`admin@internal:${PASSWORD}`);
  });

  it("revokes the token on close", async () => {
    const engine = client();
    await engine.vms.list();
    const token = String(api()[0]!.headers.authorization).slice(7);
    await engine.close();
    const logouts = log.requests.filter((r) => r.kind === "logout");
    expect(logouts).toHaveLength(1);
    expect(new URLSearchParams(logouts[0]!.body).get("token")).toBe(token);
  });
});

describe("faults", () => {
  it("turns a fault into an EngineError with status, reason, detail, method and path in the SDK's words", async () => {
    sim.faults.failOperation("snapshots.add", {
      status: 409,
      detail: "Cannot create Snapshot. The VM name is already in use.",
    });
    const err = (await client()
      .snapshots.add(vmId, { description: "x" })
      .catch((e: unknown) => e)) as EngineError;
    expect(err).toBeInstanceOf(EngineError);
    expect(err.status).toBe(409);
    expect(err.reason).toBe("Operation Failed");
    expect(err.detail).toBe("[Cannot create Snapshot. The VM name is already in use.]");
    expect(err.method).toBe("POST");
    expect(err.path).toBe(`/vms/${vmId}/snapshots`);
    expect(err.message).toBe(
      `Fault reason is "Operation Failed". Fault detail is "[Cannot create Snapshot. The VM name is already in use.]". HTTP response code is 409. (POST /vms/${vmId}/snapshots)`,
    );
    expect(log.calls("POST", `/vms/${vmId}/snapshots`)).toBe(1);
  });

  it("maps 404 to a not-found EngineError", async () => {
    const err = (await client()
      .disks.get(UNKNOWN)
      .catch((e: unknown) => e)) as EngineError;
    expect(err.isNotFound).toBe(true);
    expect(err.detail).toContain("Entity not found");
  });
});

describe("retries", () => {
  it("retries a GET answered 409 'locked' and succeeds", async () => {
    sim.faults.failOperation("disks.get", {
      status: 409,
      times: 2,
      detail: "Cannot get Disk. Disk db01_Disk1 is locked.",
    });
    const disk = await client().disks.get(diskId);
    expect(disk.id).toBe(diskId);
    expect(log.calls("GET", `/disks/${diskId}`)).toBe(3);
  });

  it("retries 503 on an idempotent call, fails fast on a non-idempotent one", async () => {
    sim.faults.failOperation("vms.list", { status: 503 });
    expect((await client().vms.list()).length).toBeGreaterThan(0);
    expect(log.calls("GET", "/vms")).toBe(2);

    sim.faults.failOperation("snapshots.add", { status: 503 });
    await expect(client().snapshots.add(vmId, { description: "x" })).rejects.toMatchObject({ status: 503 });
    expect(log.calls("POST", `/vms/${vmId}/snapshots`)).toBe(1);
  });

  it("fails fast with the engine's words on 500 for a non-idempotent call", async () => {
    sim.faults.failOperation("imagetransfers.add", { status: 500 });
    await expect(client().imageTransfers.add({ direction: "download", disk: diskId })).rejects.toThrow(
      'Fault detail is "[Internal Engine Error]". HTTP response code is 500.',
    );
    expect(log.calls("POST", "/imagetransfers")).toBe(1);
  });

  it("does not retry a 409 that is not about a lock", async () => {
    sim.faults.failOperation("vms.get", { status: 409, detail: "Cannot do it. Wrong cluster." });
    await expect(client().vms.get(vmId)).rejects.toMatchObject({ status: 409 });
    expect(log.calls("GET", `/vms/${vmId}`)).toBe(1);
  });

  it("stops after the configured number of attempts with the engine's words", async () => {
    sim.faults.failOperation("snapshots.remove", {
      status: 409,
      times: 10,
      detail: "Cannot remove Snapshot. Disk db01_Disk1 is being transferred.",
    });
    await expect(client().snapshots.remove(vmId, UNKNOWN)).rejects.toThrow("is being transferred");
    expect(log.calls("DELETE", `/vms/${vmId}/snapshots/${UNKNOWN}`)).toBe(4);
  });

  it("counts a 404 on a retried DELETE as done (an earlier attempt removed it)", async () => {
    // 503 first, then the engine's own 404 for a disk that is not there.
    sim.faults.failOperation("disks.remove", { status: 503 });
    await client().disks.remove(UNKNOWN);
    expect(log.calls("DELETE", `/disks/${UNKNOWN}`)).toBe(2);
  });
});

describe("TLS", () => {
  it("refuses a server whose certificate the given CA did not sign, without retrying", async () => {
    const err = (await client({ caPem: otherCaPem })
      .vms.list()
      .catch((e: unknown) => e)) as EngineError;
    expect(err).toBeInstanceOf(EngineError);
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/certificate/i);
    expect(sso()).toHaveLength(0);
  });

  it("refuses an unknown CA by default (system store only)", async () => {
    await expect(client({ caPem: undefined }).vms.list()).rejects.toThrow(/certificate/i);
  });

  it("refuses a plain http engine URL unless insecure", () => {
    const port = new URL(sim.engineUrl).port;
    expect(() => client({ url: `http://127.0.0.1:${port}/ovirt-engine/api` })).toThrow(/must be https/);
    expect(client({ url: `http://127.0.0.1:${port}`, insecure: true }).baseUrl).toBe(
      `http://127.0.0.1:${port}/ovirt-engine/api`,
    );
  });

  it("accepts any certificate only with insecure: true", async () => {
    expect((await client({ caPem: otherCaPem, insecure: true }).vms.list()).length).toBeGreaterThan(0);
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
    await c.snapshots.add(vmId, { description: "d", correlationId: "job 42" });
    const sent = api().find((r) => r.method === "POST" && r.path === `/vms/${vmId}/snapshots`);
    expect(sent?.query.get("correlation_id")).toBe("job-42");
  });
});
