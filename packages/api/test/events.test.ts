import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import type { Actor } from "@lifeboat/domain";
import {
  closeEventBuses,
  type EventBus,
  eventBusFor,
  type LiveEvent,
  liveEvents,
  publishEvent,
  recomputeVmTeams,
  registerEventSource,
} from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { createHTTPServer } from "@trpc/server/adapters/standalone";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createContext } from "../src/context";
import { appRouter } from "../src/routers/root";
import { createTestApi } from "../src/testing";

/**
 * Live updates: the migration's triggers NOTIFY on job, restore point and leftover changes; one LISTEN
 * connection fans them out; each subscriber gets only its teams' events (site-level ones only as a site
 * administrator); a lost connection comes back with a `resync`; and the tRPC subscription delivers it all over
 * real HTTP as server-sent events.
 */

let t: TestDatabase;
let bus: EventBus;
let teamA: string;
let teamB: string;
let engineId: string;
const vmOf: Record<string, string> = {};

const memberOfA: Actor = { userId: "a", name: "A", email: "a@x", siteAdmin: false, teamIds: [] };
const memberOfB: Actor = { userId: "b", name: "B", email: "b@x", siteAdmin: false, teamIds: [] };
const siteAdmin: Actor = { userId: "s", name: "S", email: "s@x", siteAdmin: true, teamIds: [] };

/** Collects the events an actor receives until `until` says stop (or the timeout). */
function listen(
  actor: Actor,
  open: (a: Actor, signal: AbortSignal) => AsyncIterable<LiveEvent> = (a, signal) => bus.subscribe(a, signal),
) {
  const ac = new AbortController();
  const got: LiveEvent[] = [];
  const waiters: Array<() => void> = [];
  const done = (async () => {
    for await (const ev of open(actor, ac.signal)) {
      got.push(ev);
      for (const w of waiters.splice(0)) w();
    }
  })();
  return {
    got,
    /** Settles when the stream ends (aborted, or ended by the server). */
    done,
    async until(pred: (evs: LiveEvent[]) => boolean, ms = 5000): Promise<LiveEvent[]> {
      const end = Date.now() + ms;
      while (!pred(got)) {
        if (Date.now() > end) throw new Error(`timed out; got ${JSON.stringify(got)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
      return got;
    },
    /** Resolves once the subscription hears events (barriers until one arrives). */
    async attached(): Promise<void> {
      for (;;) {
        const id = await barrier();
        try {
          await this.until(seen(id), 300);
          return;
        } catch {
          // Sent before the subscription attached: try again.
        }
      }
    },
    async stop() {
      ac.abort();
      await done;
    },
  };
}

/** A marker event that every subscriber sees, to know that everything sent before it has arrived. */
async function barrier(): Promise<string> {
  const id = randomUUID();
  await publishEvent(t.db, { kind: "inventory", id, teams: "*" });
  return id;
}
const seen = (id: string) => (evs: LiveEvent[]) => evs.some((e) => e.id === id);

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  registerEventSource(t.db, t.url);
  bus = eventBusFor(t.db);
  await bus.ready();
  teamA = randomUUID();
  teamB = randomUUID();
  await t.db.team.create({ data: { id: teamA, name: "A", slug: "a" } });
  await t.db.team.create({ data: { id: teamB, name: "B", slug: "b" } });
  memberOfA.teamIds = [teamA];
  memberOfB.teamIds = [teamB];
  await t.db.teamVmRule.create({ data: { teamId: teamA, kind: "name-pattern", pattern: "a-*" } });
  await t.db.teamVmRule.create({ data: { teamId: teamB, kind: "name-pattern", pattern: "b-*" } });
  engineId = (
    await t.db.engine.create({
      data: { name: "e", apiUrl: "https://e.test/ovirt-engine/api", username: "u", secretSealed: "x" },
    })
  ).id;
  for (const name of ["a-web", "b-db"])
    vmOf[name] = (await t.db.vm.create({ data: { engineId, vmId: randomUUID(), name } })).id;
  await recomputeVmTeams(t.db);
});

afterAll(async () => {
  await closeEventBuses();
  await stopBosses();
  await t.drop();
});

describe("the event bus", () => {
  it("tells each team of its own jobs only, and site administrators of every job", async () => {
    const a = listen(memberOfA);
    const b = listen(memberOfB);
    const admin = listen(siteAdmin);
    await Promise.all([a, b, admin].map((l) => l.attached()));
    const jobA = await t.db.job.create({ data: { type: "backup.vm", teamId: teamA, vmId: vmOf["a-web"] } });
    const jobB = await t.db.job.create({ data: { type: "backup.vm", teamId: teamB, vmId: vmOf["b-db"] } });
    const site = await t.db.job.create({ data: { type: "repository.gc" } });
    const mark = await barrier();
    for (const l of [a, b, admin]) await l.until(seen(mark));
    const jobs = (l: { got: LiveEvent[] }) => l.got.filter((e) => e.kind === "job").map((e) => e.id);
    expect(jobs(a)).toEqual([jobA.id]);
    expect(jobs(b)).toEqual([jobB.id]);
    expect(jobs(admin).sort()).toEqual([jobA.id, jobB.id, site.id].sort());
    expect(a.got.find((e) => e.id === jobA.id)).toEqual({
      kind: "job",
      id: jobA.id,
      vmId: vmOf["a-web"],
      state: "queued",
    });
    for (const l of [a, b, admin]) await l.stop();
  });

  it("announces progress and state changes, but not heartbeats without news", async () => {
    const job = await t.db.job.create({ data: { type: "backup.vm", teamId: teamA, state: "running" } });
    const heard: LiveEvent[] = [];
    // Every notification as the bus receives it (subscribers coalesce a burst into its latest state).
    const onMessage = (m: { event: LiveEvent }) => {
      if (m.event.id === job.id) heard.push(m.event);
    };
    const a = listen(memberOfA);
    await a.attached();
    bus.on("message", onMessage);
    await t.db.job.update({ where: { id: job.id }, data: { heartbeatAt: new Date() } });
    await t.db.job.update({
      where: { id: job.id },
      data: { bytesDone: 100n, bytesTotal: 1000n, phase: "downloading" },
    });
    await t.db.job.update({ where: { id: job.id }, data: { heartbeatAt: new Date() } });
    await t.db.job.update({ where: { id: job.id }, data: { state: "succeeded" } });
    const mark = await barrier();
    await a.until(seen(mark));
    bus.off("message", onMessage);
    expect(heard.map((e) => e.state)).toEqual(["running", "succeeded"]);
    expect(a.got.filter((e) => e.id === job.id).at(-1)?.state).toBe("succeeded");
    await a.stop();
  });

  it("tells the teams that own a VM of its restore points and their leftovers; engines only to site administrators", async () => {
    const a = listen(memberOfA);
    const b = listen(memberOfB);
    const admin = listen(siteAdmin);
    await Promise.all([a, b, admin].map((l) => l.attached()));
    const rp = await t.db.restorePoint.create({
      data: { vmId: vmOf["b-db"] ?? "", engineId, vmName: "b-db", ovf: "", state: "complete" },
    });
    await t.db.restorePoint.update({ where: { id: rp.id }, data: { verifyState: "ok" } });
    const jobB = await t.db.job.create({ data: { type: "backup.vm", teamId: teamB } });
    const left = await t.db.leftover.create({
      data: { jobId: jobB.id, engineId, kind: "snapshot", objectId: "s1", description: "d" },
    });
    await publishEvent(t.db, { kind: "engine", id: engineId, teams: null });
    const mark = await barrier();
    for (const l of [a, b, admin]) await l.until(seen(mark));
    expect(a.got.every((e) => e.kind === "inventory")).toBe(true);
    // Created, then verified (the second may be coalesced with the first if the subscriber was slower).
    const points = b.got.filter((e) => e.kind === "restorePoint");
    expect(points.length).toBeGreaterThanOrEqual(1);
    for (const p of points)
      expect(p).toEqual({ kind: "restorePoint", id: rp.id, vmId: vmOf["b-db"], state: "complete" });
    expect(b.got.some((e) => e.kind === "leftover" && e.id === left.id)).toBe(true);
    expect(b.got.some((e) => e.kind === "engine")).toBe(false);
    expect(admin.got.some((e) => e.kind === "engine" && e.id === engineId)).toBe(true);
    expect(admin.got.some((e) => e.kind === "restorePoint" && e.id === rp.id)).toBe(true);
    for (const l of [a, b, admin]) await l.stop();
  });

  it("keeps payloads under PostgreSQL's limit: too many teams go to site administrators only", async () => {
    const a = listen(memberOfA);
    const admin = listen(siteAdmin);
    await Promise.all([a, admin].map((l) => l.attached()));
    const many = [teamA, ...Array.from({ length: 400 }, () => randomUUID())];
    await publishEvent(t.db, { kind: "job", id: "many-teams", teams: many });
    const mark = await barrier();
    await a.until(seen(mark));
    await admin.until(seen(mark));
    expect(a.got.some((e) => e.id === "many-teams")).toBe(false);
    expect(admin.got.some((e) => e.id === "many-teams")).toBe(true);
    await a.stop();
    await admin.stop();
  });

  it("reconnects after losing its connection and tells subscribers to refetch", async () => {
    const a = listen(memberOfA);
    await a.attached();
    bus.simulateConnectionLoss();
    expect(bus.connected).toBe(false);
    await a.until((evs) => evs.some((e) => e.kind === "resync"), 10_000);
    expect(bus.connected).toBe(true);
    const job = await t.db.job.create({ data: { type: "backup.vm", teamId: teamA } });
    await a.until(seen(job.id));
    await a.stop();
  });
});

describe("the live stream re-checks its subscriber while it runs", () => {
  async function person(email: string, teams: string[]): Promise<Actor> {
    const user = await t.db.user.create({ data: { id: randomUUID(), name: email, email } });
    for (const teamId of teams)
      await t.db.membership.create({ data: { id: randomUUID(), teamId, userId: user.id, role: "viewer" } });
    return { userId: user.id, name: user.name, email, siteAdmin: false, teamIds: teams };
  }
  // Re-check before every event: the default interval would only make the test wait.
  const everyEvent = (a: Actor, signal: AbortSignal) => liveEvents(t.db, a, signal, { rescopeMs: 0 });

  it("stops sending a team's events once the subscriber is no longer its member", async () => {
    const actor = await person("leaver@events.test", [teamA, teamB]);
    const l = listen(actor, everyEvent);
    await l.attached();
    const before = await t.db.job.create({ data: { type: "backup.vm", teamId: teamA } });
    await l.until(seen(before.id));
    await t.db.membership.deleteMany({ where: { userId: actor.userId, teamId: teamA } });
    const afterA = await t.db.job.create({ data: { type: "backup.vm", teamId: teamA } });
    const afterB = await t.db.job.create({ data: { type: "backup.vm", teamId: teamB } });
    const mark = await barrier();
    await l.until(seen(mark));
    expect(l.got.some((e) => e.id === afterA.id)).toBe(false);
    expect(l.got.some((e) => e.id === afterB.id)).toBe(true);
    await l.stop();
  });

  it("ends the stream of an account disabled meanwhile, and of one left in no team", async () => {
    const banned = await person("banned@events.test", [teamA]);
    const alone = await person("alone@events.test", [teamB]);
    const lb = listen(banned, everyEvent);
    const la = listen(alone, everyEvent);
    await Promise.all([lb.attached(), la.attached()]);
    await t.db.user.update({ where: { id: banned.userId }, data: { banned: true } });
    await t.db.membership.deleteMany({ where: { userId: alone.userId } });
    const job = await t.db.job.create({ data: { type: "backup.vm", teamId: teamA } });
    await barrier();
    const ended = Promise.all([lb.done, la.done]).then(() => true);
    const timeout = new Promise<false>((r) => setTimeout(() => r(false), 10_000).unref());
    expect(await Promise.race([ended, timeout])).toBe(true);
    expect(lb.got.some((e) => e.id === job.id)).toBe(false);
  });

  it("re-checks at most once per interval, not on every event", async () => {
    const actor = await person("cached@events.test", [teamA]);
    let checks = 0;
    const l = listen(actor, (a, signal) =>
      bus.subscribe(a, signal, {
        rescope: async () => {
          checks++;
          return a;
        },
        rescopeMs: 60_000,
      }),
    );
    await l.attached();
    for (let i = 0; i < 3; i++) await t.db.job.create({ data: { type: "backup.vm", teamId: teamA } });
    await l.until(seen(await barrier()));
    expect(checks).toBe(0);
    await l.stop();
  });
});

describe("events.subscribe over HTTP (server-sent events)", () => {
  /** The API over real HTTP, as the web server runs it. */
  async function serve(api: ReturnType<typeof createTestApi>) {
    const server = createHTTPServer({
      router: appRouter,
      createContext: ({ req }) =>
        createContext({
          db: t.db,
          auth: api.auth,
          queue: api.queue,
          config: api.config,
          headers: new Headers(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        }),
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return {
      base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      // Streams a failed test left open would keep close() waiting.
      close: () =>
        new Promise((r) => {
          server.close(r);
          server.closeAllConnections();
        }),
    };
  }

  /** Opens the stream with a session cookie; `readUntil` reads it until `needle` arrives. */
  async function openStream(base: string, cookie: string) {
    const ac = new AbortController();
    const res = await fetch(`${base}/events.subscribe`, { headers: { cookie }, signal: ac.signal });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const reader = res.body?.getReader();
    if (!reader) throw new Error("no body");
    const stream = {
      text: "",
      async readUntil(needle: string) {
        const end = Date.now() + 10_000;
        while (!stream.text.includes(needle)) {
          if (Date.now() > end) throw new Error(`no ${needle} in ${stream.text}`);
          const { value, done } = await reader.read();
          if (done) throw new Error("stream ended");
          stream.text += new TextDecoder().decode(value);
        }
      },
      abort: () => ac.abort(),
    };
    // The subscription is live once the server answered; give its LISTEN a moment to attach.
    await new Promise((r) => setTimeout(r, 300));
    return stream;
  }

  it("streams the caller's teams' changes, and refuses anonymous callers", async () => {
    const api = createTestApi(t.db, t.url);
    const u = await api.createUser({ email: "member@events.test" });
    await t.db.membership.create({ data: { id: randomUUID(), teamId: teamA, userId: u.id, role: "viewer" } });
    const cookie = (await api.signIn(u.email, u.password)).get("cookie") ?? "";
    const server = await serve(api);
    try {
      const anonymous = await fetch(`${server.base}/events.subscribe`);
      const anonymousBody = await anonymous.text();
      expect(anonymousBody).toMatch(/UNAUTHORIZED|Sign in/);

      const stream = await openStream(server.base, cookie);
      const other = await t.db.job.create({ data: { type: "backup.vm", teamId: teamB } });
      const mine = await t.db.job.create({ data: { type: "backup.vm", teamId: teamA } });
      await stream.readUntil(mine.id);
      expect(stream.text).not.toContain(other.id);
      stream.abort();
    } finally {
      await server.close();
    }
  });

  it("stops sending a team's changes once the caller left the team", async () => {
    const api = createTestApi(t.db, t.url);
    const u = await api.createUser({ email: "leaver-http@events.test" });
    for (const teamId of [teamA, teamB])
      await t.db.membership.create({ data: { id: randomUUID(), teamId, userId: u.id, role: "viewer" } });
    const cookie = (await api.signIn(u.email, u.password)).get("cookie") ?? "";
    const server = await serve(api);
    try {
      const stream = await openStream(server.base, cookie);
      const before = await t.db.job.create({ data: { type: "backup.vm", teamId: teamA } });
      await stream.readUntil(before.id);
      await t.db.membership.deleteMany({ where: { userId: u.id, teamId: teamA } });
      // The stream re-checks its scope at most every 5 s: wait past that.
      await new Promise((r) => setTimeout(r, 5_200));
      const left = await t.db.job.create({ data: { type: "backup.vm", teamId: teamA } });
      const still = await t.db.job.create({ data: { type: "backup.vm", teamId: teamB } });
      await stream.readUntil(still.id);
      expect(stream.text).not.toContain(left.id);
      stream.abort();
    } finally {
      await server.close();
    }
  });
});
