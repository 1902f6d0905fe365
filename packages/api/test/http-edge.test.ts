import http from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { createAuth, parseTrustedProxies } from "@lifeboat/auth";
import type { Db } from "@lifeboat/db";
import { getDb } from "@lifeboat/db";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import {
  ANONYMOUS_DENIAL_ROWS,
  AUDIT_USER_AGENT_MAX,
  flushAnonymousDenials,
  WORKER_LIVE_MS,
} from "@lifeboat/domain";
import { createJobQueue, stopBosses } from "@lifeboat/jobs";
import { incomingMessageToRequest } from "@trpc/server/adapters/node-http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { handleAuthRequest } from "../src/http/auth";
import { createEdgeListener } from "../src/http/edge";
import { MAX_TRPC_BATCH } from "../src/http/limits";
import { handleTrpcRequest } from "../src/http/trpc";

/**
 * The web server's HTTP path over real sockets: the edge listener of apps/web/server.ts in front of the same
 * /api/trpc and /api/auth handlers the Next routes call (Next's router is the only part left out), on a real
 * PostgreSQL.
 */
let t: TestDatabase;
const servers: http.Server[] = [];

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
});
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  await stopBosses();
  await t.drop();
});

async function writeResponse(res: http.ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((v, k) => {
    if (k !== "set-cookie") headers[k] = v;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  res.writeHead(response.status, headers);
  if (!response.body) return void res.end();
  await new Promise<void>((resolve, reject) =>
    Readable.fromWeb(response.body as never)
      .on("error", reject)
      .pipe(res)
      .on("finish", resolve),
  );
}

interface Web {
  url: string;
  origin: string;
  db: Db;
}

async function startWeb(
  opts: { trustedProxies?: string[]; rateLimit?: boolean; maxBodyBytes?: number; db?: Db } = {},
): Promise<Web> {
  const db = opts.db ?? t.db;
  let routes: (req: Request) => Promise<Response> = async () => new Response("starting", { status: 503 });
  const edge = createEdgeListener(
    async (req, res) =>
      writeResponse(res, await routes(incomingMessageToRequest(req, res, { maxBodySize: null }))),
    {
      trustedProxies: parseTrustedProxies(opts.trustedProxies ?? []),
      maxBodyBytes: opts.maxBodyBytes ?? 1024 * 1024,
      publicUrl: "http://127.0.0.1",
    },
  );
  const server = http.createServer(edge);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const auth = createAuth({
    db,
    secret: "lifeboat-test-secret-0123456789abcdef",
    baseURL: origin,
    trustedOrigins: [origin],
    rateLimit: opts.rateLimit ?? false,
  });
  const queue = createJobQueue(db, t.url);
  const config = { encryptionKey: null, repository: { dir: "/nonexistent" }, notify: { publicUrl: origin } };
  routes = async (req) => {
    const path = new URL(req.url).pathname;
    if (path.startsWith("/api/trpc/"))
      return handleTrpcRequest(req, { db, auth, queue, config, allowedOrigins: [origin] });
    if (path.startsWith("/api/auth/")) return handleAuthRequest(req, { auth, db });
    return new Response("not found", { status: 404 });
  };
  return { url: origin, origin, db };
}

/** A worker's heartbeat, renewed now (what apps/worker's heartbeat writes). */
const liveWorker = () =>
  t.db.workerHeartbeat.upsert({
    where: { id: "edge-worker" },
    create: { id: "edge-worker", host: "edge", pid: 2 },
    update: { seenAt: new Date() },
  });

let userCount = 0;
async function createUser(web: Web, role: "admin" | "user" = "user") {
  const email = `u${++userCount}@edge.test`;
  const password = "correct-horse-battery";
  const auth = createAuth({ db: web.db, secret: "lifeboat-test-secret-0123456789abcdef", baseURL: web.url });
  const res = await auth.api.createUser({ body: { email, password, name: `User ${userCount}`, role } });
  return { id: res.user.id, email, password };
}

function signIn(web: Web, email: string, password: string, headers: Record<string, string> = {}) {
  return fetch(`${web.url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: web.origin, ...headers },
    body: JSON.stringify({ email, password }),
  });
}

async function cookieOf(res: Response): Promise<string> {
  expect(res.status).toBe(200);
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
}

const ping = (web: Web, headers: Record<string, string>) =>
  fetch(`${web.url}/api/trpc/system.ping`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ json: { message: "hello" } }),
  });

/** A request whose headers promise `declared` bytes while only a few are sent: answered only if never read. */
function partialBody(web: Web, path: string, declared: number, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(`${web.url}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-length": String(declared),
        origin: web.origin,
        ...headers,
      },
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    req.on("error", (e) => ((e as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(e)));
    req.write(`{"json":{"message":"${"x".repeat(1000)}`);
  });
}

describe("request bodies", () => {
  it("answers 413 to a body larger than the limit without reading it", async () => {
    const web = await startWeb();
    const res = await partialBody(web, "/api/trpc/system.ping", 200 * 1024 * 1024);
    expect(res.status).toBe(413);
    expect(res.body).toMatch(/limited to 1048576 bytes/);
    const auth = await partialBody(web, "/api/auth/sign-in/email", 200 * 1024 * 1024);
    expect(auth.status).toBe(413);
  });

  it("answers 401 to a mutation without a session without reading its body, and audits it", async () => {
    const web = await startWeb();
    const res = await partialBody(web, "/api/trpc/system.ping", 500_000);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body).error.json.data.code).toBe("UNAUTHORIZED");
    const row = await t.db.auditEvent.findFirst({ where: { action: "system.ping", actorId: null } });
    expect(row).toMatchObject({ outcome: "denied", ip: "127.0.0.1" });
  });

  it("keeps a flood of batched mutations without a session to a few audit rows and one count", async () => {
    // Its own database: the limit is per catalog client, and the other tests here expect their rows.
    const own = await createTestDatabase(inject("testDatabase"));
    const web = await startWeb({ db: own.db });
    const agent = `flood/${"x".repeat(8000)}`;
    const batch = Array.from({ length: MAX_TRPC_BATCH }, () => "system.ping").join(",");
    for (let i = 0; i < 25; i++) {
      const res = await fetch(`${web.url}/api/trpc/${batch}?batch=1`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: web.origin, "user-agent": agent },
        body: "{}",
      });
      expect(res.status).toBe(401);
    }
    await flushAnonymousDenials(own.db);
    const rows = await own.db.auditEvent.findMany({ where: { userAgent: { startsWith: "flood/" } } });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThanOrEqual(2 * ANONYMOUS_DENIAL_ROWS);
    for (const r of rows)
      expect(r).toMatchObject({ teamId: null, userAgent: agent.slice(0, AUDIT_USER_AGENT_MAX) });
    const summaries = await own.db.auditEvent.findMany({ where: { action: "audit.anonymousDenials" } });
    const counted = summaries.reduce(
      (n, r) => n + ((r.details as { actions: Record<string, number> }).actions["system.ping"] ?? 0),
      0,
    );
    // Every call is accounted for: a row of its own or a count.
    expect(rows.length + counted).toBe(25 * MAX_TRPC_BATCH);
    await own.drop();
  });

  it("refuses a body without a declared length", async () => {
    const web = await startWeb();
    const res = await fetch(`${web.url}/api/trpc/system.ping`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: web.origin },
      body: new Blob(["{}"]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(411);
  });

  it("caps a batch at 20 calls", async () => {
    const web = await startWeb();
    await liveWorker();
    const batch = (n: number) => {
      const paths = Array.from({ length: n }, () => "system.health").join(",");
      return fetch(`${web.url}/api/trpc/${paths}?batch=1&input=${encodeURIComponent("{}")}`);
    };
    expect((await batch(20)).status).toBe(200);
    const over = await batch(21);
    expect(over.status).toBe(400);
    expect(await over.text()).toMatch(/batch/i);
  });
});

describe("mutations come from a trusted origin", () => {
  it("refuses a mutation from another origin or without one, and runs it from the app's", async () => {
    const web = await startWeb();
    const admin = await createUser(web, "admin");
    const cookie = await cookieOf(await signIn(web, admin.email, admin.password));
    const jobs = () => t.db.job.count({ where: { createdBy: admin.id } });
    const evil = await ping(web, { cookie, origin: "https://evil.example" });
    expect(evil.status).toBe(403);
    expect(await evil.text()).toMatch(/Origin is not trusted/);
    expect((await ping(web, { cookie })).status).toBe(403);
    expect(await jobs()).toBe(0);
    const ok = await ping(web, { cookie, origin: web.origin });
    expect(ok.status).toBe(200);
    expect(await jobs()).toBe(1);
  });
});

describe("hostile text", () => {
  it("answers 400 with the field's name to a NUL or a lone surrogate sent as JSON escapes", async () => {
    const web = await startWeb();
    const admin = await createUser(web, "admin");
    const cookie = await cookieOf(await signIn(web, admin.email, admin.password));
    for (const [jsonEscape, words] of [
      ["\\u0000", /NUL character/],
      ["\\udfff", /lone UTF-16 surrogate/],
    ] as const) {
      const res = await fetch(`${web.url}/api/trpc/system.ping`, {
        method: "POST",
        headers: { "content-type": "application/json", cookie, origin: web.origin },
        body: `{"json":{"message":"hi${jsonEscape}"}}`,
      });
      expect(res.status).toBe(400);
      const error = ((await res.json()) as { error: { json: { message: string; data: { code: string } } } })
        .error.json;
      expect(error.data.code).toBe("BAD_REQUEST");
      expect(error.message).toMatch(words);
      expect(error.message).toMatch(/"message"/);
    }
    expect(await t.db.job.count({ where: { createdBy: admin.id } })).toBe(0);
  });

  it("answers 400 to a sign-in whose e-mail holds a NUL or a lone surrogate, and audits it", async () => {
    const web = await startWeb();
    for (const [jsonEscape, words] of [
      ["\\u0000", /NUL character/],
      ["\\ud800", /lone UTF-16 surrogate/],
    ] as const) {
      const res = await fetch(`${web.url}/api/auth/sign-in/email`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: web.origin },
        body: `{"email":"mal${jsonEscape}formed@edge.test","password":"whatever-1234"}`,
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { message: string; code: string };
      expect(body).toEqual({ code: "BAD_REQUEST", message: expect.stringMatching(words) });
      expect(body.message).toMatch(/"email"/);
    }
    const rows = await t.db.auditEvent.findMany({ where: { action: "auth.sign-in", outcome: "failure" } });
    expect(rows.filter((r) => /"email"/.test((r.details as { error?: string }).error ?? ""))).toHaveLength(2);
  });
});

describe("system.health", () => {
  const health = async (web: Web) => {
    const res = await fetch(`${web.url}/api/trpc/system.health`);
    return {
      status: res.status,
      body: ((await res.json()) as { result: { data: { json: unknown } } }).result.data.json,
    };
  };

  it("answers 503 naming the worker while none is live, and 200 once one renews its heartbeat", async () => {
    await t.db.workerHeartbeat.deleteMany();
    const web = await startWeb();
    expect(await health(web)).toEqual({
      status: 503,
      body: {
        ok: false,
        database: true,
        worker: false,
        problem: "No worker is running: backups, restores and verifies wait until one runs.",
      },
    });
    // A worker killed without its clean stop leaves its row behind: stale, it no longer counts.
    const stale = new Date(Date.now() - WORKER_LIVE_MS - 60_000);
    await t.db.workerHeartbeat.create({ data: { id: "killed-worker", host: "edge", pid: 1, seenAt: stale } });
    const gone = await health(web);
    expect(gone).toMatchObject({ status: 503, body: { ok: false, database: true, worker: false } });
    expect((gone.body as { problem: string }).problem).toContain(
      `the last one was seen ${stale.toISOString()}`,
    );
    await liveWorker();
    expect(await health(web)).toEqual({
      status: 200,
      body: { ok: true, database: true, worker: true, problem: null },
    });
  });

  it("answers 503 when the database is down", async () => {
    const dead = getDb("postgresql://postgres@127.0.0.1:1/lifeboat_nowhere");
    expect(await health(await startWeb({ db: dead }))).toEqual({
      status: 503,
      body: { ok: false, database: false, worker: false, problem: "The database does not answer." },
    });
    await dead.$disconnect();
  });
});

describe("disabled accounts", () => {
  it("answers a disabled account's right password exactly like a wrong one", async () => {
    const web = await startWeb();
    const u = await createUser(web);
    await t.db.user.update({ where: { id: u.id }, data: { banned: true } });
    const wrong = await signIn(web, u.email, "not-the-password-at-all");
    const disabled = await signIn(web, u.email, u.password);
    expect(disabled.status).toBe(wrong.status);
    expect(await disabled.text()).toBe(await wrong.text());
    expect(disabled.headers.getSetCookie()).toEqual([]);
    const rows = await t.db.auditEvent.findMany({
      where: { actorId: u.id, action: "auth.sign-in" },
      orderBy: { at: "asc" },
    });
    expect(rows.map((r) => [r.outcome, (r.details as { reason?: string }).reason])).toEqual([
      ["failure", "account disabled"],
      ["failure", "account disabled"],
    ]);
  });
});

describe("client addresses", () => {
  const signInIp = async (web: Web, headers: Record<string, string>) => {
    const u = await createUser(web);
    await signIn(web, u.email, "a-wrong-password-here", headers);
    const row = await t.db.auditEvent.findFirstOrThrow({ where: { actorId: u.id, action: "auth.sign-in" } });
    return row.ip;
  };

  it("is the TCP peer, whatever the headers say, when no proxy is trusted", async () => {
    const web = await startWeb();
    expect(await signInIp(web, { "x-forwarded-for": "6.6.6.6" })).toBe("127.0.0.1");
    expect(await signInIp(web, { "x-lifeboat-client-ip": "6.6.6.6" })).toBe("127.0.0.1");
  });

  it("is the right-most hop that is not a trusted proxy, behind trusted proxies", async () => {
    const web = await startWeb({ trustedProxies: ["127.0.0.1", "10.0.0.0/8"] });
    expect(await signInIp(web, { "x-forwarded-for": "6.6.6.6, 198.51.100.9" })).toBe("198.51.100.9");
    expect(await signInIp(web, { "x-forwarded-for": "6.6.6.6, 198.51.100.9, 10.1.2.3" })).toBe(
      "198.51.100.9",
    );
    expect(await signInIp(web, {})).toBe("127.0.0.1");
    const mutation = await ping(web, { origin: web.origin, "x-forwarded-for": "203.0.113.50" });
    expect(mutation.status).toBe(401);
    const denied = await t.db.auditEvent.findFirstOrThrow({ where: { ip: "203.0.113.50" } });
    expect(denied).toMatchObject({ action: "system.ping", outcome: "denied" });
  });
});

describe("sign-in throttling", () => {
  const rotating = (i: number) => ({ "x-forwarded-for": `198.51.${Math.floor(i / 250)}.${(i % 250) + 1}` });

  async function sixtyWrongThenRight(web: Web) {
    const u = await createUser(web);
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++)
      statuses.push((await signIn(web, u.email, `wrong-password-${i}`, rotating(i))).status);
    const last = await signIn(web, u.email, u.password, rotating(60));
    return { u, statuses, last };
  }

  it("keys the IP limit on the TCP peer, so a forged X-Forwarded-For does not reset it", async () => {
    const web = await startWeb({ rateLimit: true });
    const { statuses, last } = await sixtyWrongThenRight(web);
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses).toContain(429);
    expect(last.status).toBe(429);
  });

  it("locks the account after five attempts, whatever address they come from, and audits the refusals", async () => {
    const web = await startWeb({ rateLimit: true, trustedProxies: ["127.0.0.1"] });
    const { u, statuses, last } = await sixtyWrongThenRight(web);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(new Set(statuses.slice(5))).toEqual(new Set([429]));
    expect(last.status).toBe(429);
    expect(Number(last.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(last.headers.getSetCookie()).toEqual([]);
    const rows = await t.db.auditEvent.findMany({ where: { actorId: u.id, action: "auth.sign-in" } });
    expect(rows.filter((r) => r.outcome === "failure")).toHaveLength(5);
    const refused = rows.filter((r) => r.outcome === "denied");
    expect(refused).toHaveLength(56);
    expect(refused.map((r) => r.ip)).toContain("198.51.0.61");
    expect(refused[0]?.details).toMatchObject({ reason: "rate limited" });
    // The lock is in PostgreSQL: another web process on the same database refuses too.
    const other = await startWeb({ rateLimit: true, trustedProxies: ["127.0.0.1"] });
    expect((await signIn(other, u.email, u.password, rotating(99))).status).toBe(429);
  });

  it("lets the right password through before the lock, and starts the count over", async () => {
    const web = await startWeb({ trustedProxies: ["127.0.0.1"] });
    const u = await createUser(web);
    for (let i = 0; i < 4; i++)
      expect((await signIn(web, u.email, `wrong-${i}`, rotating(i))).status).toBe(401);
    await cookieOf(await signIn(web, u.email, u.password));
    for (let i = 0; i < 4; i++)
      expect((await signIn(web, u.email, `wrong-${i}`, rotating(i))).status).toBe(401);
    await cookieOf(await signIn(web, u.email, u.password));
  });

  it("throttles change-password per account too", async () => {
    const web = await startWeb({ trustedProxies: ["127.0.0.1"] });
    const u = await createUser(web);
    const cookie = await cookieOf(await signIn(web, u.email, u.password));
    const change = (currentPassword: string, i: number) =>
      fetch(`${web.url}/api/auth/change-password`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: web.origin, cookie, ...rotating(i) },
        body: JSON.stringify({ currentPassword, newPassword: "a-brand-new-password" }),
      });
    for (let i = 0; i < 5; i++) expect((await change(`wrong-${i}`, i)).status).toBe(400);
    expect((await change(u.password, 5)).status).toBe(429);
    const rows = await t.db.auditEvent.findMany({
      where: { actorId: u.id, action: "account.change-password" },
    });
    expect(rows.map((r) => r.outcome).sort()).toEqual(["denied", ...Array(5).fill("failure")]);
  });
});

describe("sign-out", () => {
  it("is audited", async () => {
    const web = await startWeb();
    const u = await createUser(web);
    const cookie = await cookieOf(await signIn(web, u.email, u.password));
    const res = await fetch(`${web.url}/api/auth/sign-out`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: web.origin, cookie },
      body: "{}",
    });
    expect(res.status).toBe(200);
    const row = await t.db.auditEvent.findFirstOrThrow({ where: { actorId: u.id, action: "auth.sign-out" } });
    expect(row).toMatchObject({ outcome: "success", ip: "127.0.0.1" });
  });
});
