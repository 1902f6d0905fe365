import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Agent, type Dispatcher, request } from "undici";
import { type Simulator, type SimulatorOptions, startSimulator } from "../../src/index";
import { checkAllVolumes } from "./qemu";

/**
 * Shared fixtures of the conformance suites: a simulator on a temp data dir with the small seed and short
 * delays, a raw HTTP client over TLS verified against the simulator's CA, and a final `qemu-img check` /
 * `qemu-img info` of every volume the suite created or modified. A second layer through ovirt-core's clients
 * can reuse `startTestSim` and pass `sim.engineUrl` / `sim.caPem` to them.
 */
export interface TestSim {
  sim: Simulator;
  dir: string;
  api: EngineHttp;
  /** Stops the simulator, checks every volume with qemu-img, removes the data dir. */
  stop(): Promise<{ qcow2: number; raw: number }>;
}

export const FAST: Partial<SimulatorOptions> = { seedScale: "small", asyncDelayMs: 40, transferPollMs: 40 };

export async function startTestSim(opts: Partial<SimulatorOptions> = {}, dir?: string): Promise<TestSim> {
  const dataDir = dir ?? (await mkdtemp(path.join(os.tmpdir(), "ovirt-sim-test-")));
  const sim = await startSimulator({ dataDir, ...FAST, ...opts });
  const api = new EngineHttp(sim);
  return {
    sim,
    dir: dataDir,
    api,
    async stop() {
      await api.close();
      await sim.stop();
      const counts = await checkAllVolumes(dataDir);
      if (!dir) await rm(dataDir, { recursive: true, force: true });
      return counts;
    },
  };
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: T;
  text: string;
}

// biome-ignore lint/suspicious/noExplicitAny: test code navigates free-form engine JSON
export type Json = any;

/** A bare engine client: SSO token, JSON requests, nothing hidden. */
export class EngineHttp {
  readonly agent: Agent;
  private token: string | null = null;

  constructor(readonly sim: Simulator) {
    this.agent = new Agent({ connect: { ca: sim.caPem } });
  }

  get ssoUrl(): string {
    return this.sim.engineUrl.replace(/\/api$/, "/sso/oauth/token");
  }

  async sso(form: Record<string, string>): Promise<Answer<Json>> {
    const r = await request(this.ssoUrl, {
      method: "POST",
      dispatcher: this.agent,
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams(form).toString(),
    });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, json: text ? JSON.parse(text) : {}, text };
  }

  async login(): Promise<string> {
    const a = await this.sso({
      grant_type: "password",
      scope: "ovirt-app-api",
      username: this.sim.adminUser,
      password: this.sim.adminPassword,
    });
    if (a.status !== 200) throw new Error(`login failed: ${a.text}`);
    this.token = a.json.access_token as string;
    return this.token;
  }

  /** One request; like the SDK, a 401 gets a new token and one retry. */
  async req(
    method: Dispatcher.HttpMethod,
    p: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer<Json>> {
    if (!this.token) await this.login();
    const a = await this.once(method, p, body, headers);
    if (a.status !== 401 || headers.authorization) return a;
    await this.login();
    return this.once(method, p, body, headers);
  }

  private async once(
    method: Dispatcher.HttpMethod,
    p: string,
    body: unknown,
    headers: Record<string, string>,
  ): Promise<Answer<Json>> {
    const url = p.startsWith("http") ? p : `${this.sim.engineUrl}${p}`;
    const r = await request(url, {
      method,
      dispatcher: this.agent,
      headers: {
        accept: "application/json",
        authorization: `Bearer ${this.token}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await r.body.text();
    let json: Json = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { raw: text };
    }
    return { status: r.statusCode, headers: r.headers, json, text };
  }

  get(p: string) {
    return this.req("GET", p);
  }
  post(p: string, body: unknown = {}) {
    return this.req("POST", p, body);
  }
  del(p: string) {
    return this.req("DELETE", p);
  }

  /** GET that must answer 200. */
  async ok(p: string): Promise<Json> {
    const a = await this.get(p);
    if (a.status !== 200) throw new Error(`GET ${p}: ${a.status} ${a.text}`);
    return a.json;
  }

  async vmByName(name: string): Promise<Json> {
    const list = await this.ok(`/vms?search=${encodeURIComponent(`name=${name}`)}`);
    const vm = list.vm?.[0];
    if (!vm) throw new Error(`no VM ${name}`);
    return vm;
  }

  /** Polls a GET until `pred` holds (or the status is 404 when `gone`). */
  async waitFor(p: string, pred: (j: Json, status: number) => boolean, timeoutMs = 10_000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const a = await this.get(p);
      if (pred(a.json, a.status)) return a.json;
      if (Date.now() > deadline)
        throw new Error(`timeout waiting on ${p}: last ${a.status} ${a.text.slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Raw requests to the daemon / proxy (imageio data API). */
export async function io(
  agent: Agent,
  method: Dispatcher.HttpMethod,
  url: string,
  opts: { headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const r = await request(url, { method, dispatcher: agent, headers: opts.headers, body: opts.body });
  const body = Buffer.from(await r.body.arrayBuffer());
  return { status: r.statusCode, headers: r.headers, body };
}
