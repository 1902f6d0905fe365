import { EventEmitter } from "node:events";
import type { Db } from "@lifeboat/db";
import pg from "pg";
import { z } from "zod";
import { actorFor } from "./actors";
import type { Actor } from "./context";
import type { TeamPermission } from "./permissions";

/**
 * Live updates: PostgreSQL LISTEN/NOTIFY on one channel. Triggers (migration `live_events`) notify on job,
 * restore point and leftover changes; services publish the rest (inventory refreshed, engine changed). Payloads
 * carry ids only — what changed and who may know — never names or data: a subscriber refetches through the
 * normal, scoped procedures. Each server process holds ONE listening connection, fanned out to every
 * subscription through an EventEmitter, and reconnects after an error.
 */
export const EVENTS_CHANNEL = "lifeboat_events";

export const LIVE_EVENT_KINDS = ["job", "restorePoint", "leftover", "inventory", "engine", "resync"] as const;
export type LiveEventKind = (typeof LIVE_EVENT_KINDS)[number];

/** One change, as subscribers receive it. */
export const liveEvent = z.object({
  kind: z.enum(LIVE_EVENT_KINDS),
  /** The changed object's id (job, restore point, leftover, engine). */
  id: z.string(),
  /** For jobs and restore points: the catalog VM. */
  vmId: z.string().nullable().optional(),
  /** For jobs: the state after the change. */
  state: z.string().nullable().optional(),
});
export type LiveEvent = z.infer<typeof liveEvent>;

/**
 * On the wire (NOTIFY payload): the event plus who may see it — `t`: the owning team ids, `null` for site-level
 * objects (site administrators only), `"*"` for everyone signed in.
 */
const wireEvent = z.object({
  k: z.enum(LIVE_EVENT_KINDS),
  id: z.string().max(100),
  vm: z.string().max(100).nullable().optional(),
  s: z.string().max(50).nullable().optional(),
  t: z.union([z.array(z.string().max(100)).max(200), z.literal("*"), z.null()]),
});
type WireEvent = z.infer<typeof wireEvent>;

export interface PublishedEvent extends LiveEvent {
  /** Owning teams; null = site administrators only; "*" = everyone signed in. */
  teams?: string[] | "*" | null;
}

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_PAYLOAD = 7900;

/** Publishes an event to every server process (after the caller's transaction commits, if inside one). */
export async function publishEvent(db: Pick<Db, "$executeRaw">, ev: PublishedEvent): Promise<void> {
  const wire: WireEvent = {
    k: ev.kind,
    id: ev.id,
    vm: ev.vmId ?? null,
    s: ev.state ?? null,
    t: ev.teams === undefined ? "*" : ev.teams,
  };
  let payload = JSON.stringify(wire);
  if (payload.length > MAX_PAYLOAD) payload = JSON.stringify({ ...wire, t: null });
  await db.$executeRaw`SELECT pg_notify(${EVENTS_CHANNEL}, ${payload})`;
}

/** Whether the actor may learn of the event (the same scope as the procedures that show the object). */
export function eventVisibleTo(actor: Actor, teams: WireEvent["t"]): boolean {
  if (actor.siteAdmin) return true;
  if (teams === "*") return true;
  if (teams === null) return false;
  return teams.some((t) => actor.teamIds.includes(t));
}

interface BusMessage {
  event: LiveEvent;
  teams: WireEvent["t"];
}

export interface SubscribeOptions {
  /**
   * The subscriber's scope as it is now: a stream outlives the guard's check, so memberships removed and accounts
   * disabled meanwhile must count. Null ends the stream.
   */
  rescope?: () => Promise<Actor | null>;
  /** Re-resolve the scope at most this often, before sending an event (default 5 s). */
  rescopeMs?: number;
}

const RESCOPE_MS = 5_000;

/** One LISTEN connection per database URL and process, fanned out to subscribers. */
export class EventBus extends EventEmitter {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = 500;
  private closed = false;

  constructor(private readonly url: string) {
    super();
    // Every open subscription adds a listener.
    this.setMaxListeners(0);
  }

  /** Connected and listening (connects on first use; later failures reconnect in the background). */
  ready(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: "lifeboat-events" });
    client.on("notification", (n) => {
      if (n.channel !== EVENTS_CHANNEL || !n.payload) return;
      const msg = parseWire(n.payload);
      if (msg) this.emit("message", msg);
    });
    client.on("error", (e) => this.lost(client, e));
    client.on("end", () => this.lost(client, new Error("connection ended")));
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = 500;
  }

  private lost(client: pg.Client, e: Error): void {
    if (this.client !== client) return;
    this.client = null;
    client.removeAllListeners("notification");
    client.end().catch(() => undefined);
    if (this.closed) return;
    console.warn(`[events] listening connection lost (${e.message}); reconnecting`);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.retryTimer || this.closed) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, 30_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.ready().then(
        // Notifications sent while we were away are lost: tell subscribers to refetch everything.
        () => this.emit("message", { event: { kind: "resync", id: "reconnect" }, teams: "*" }),
        (err) => {
          console.warn(`[events] reconnect failed: ${err instanceof Error ? err.message : err}`);
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.retryTimer.unref();
  }

  /** Test hook: drops the connection as a network failure would. */
  simulateConnectionLoss(): void {
    const c = this.client;
    if (c) this.lost(c, new Error("simulated loss"));
  }

  get connected(): boolean {
    return this.client !== null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => undefined);
    this.removeAllListeners();
  }

  /**
   * The events the actor may see, until `signal` aborts (or `rescope` finds the actor may no longer subscribe).
   * Backpressure-free: a slow consumer's queue is bounded (older progress events are dropped first, keeping the
   * latest per object).
   */
  async *subscribe(
    actor: Actor,
    signal: AbortSignal,
    opts: SubscribeOptions = {},
  ): AsyncGenerator<LiveEvent> {
    await this.ready();
    let scope = actor;
    let scopedAt = Date.now();
    const rescopeMs = opts.rescopeMs ?? RESCOPE_MS;
    const queue = new Map<string, BusMessage>();
    let wake: (() => void) | null = null;
    const onMessage = (m: BusMessage) => {
      if (!eventVisibleTo(scope, m.teams)) return;
      const key = `${m.event.kind}:${m.event.id}`;
      queue.delete(key);
      queue.set(key, m);
      while (queue.size > 500) queue.delete(queue.keys().next().value as string);
      wake?.();
    };
    const onAbort = () => wake?.();
    this.on("message", onMessage);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (!signal.aborted) {
        if (queue.size === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = null;
          continue;
        }
        const [key, m] = queue.entries().next().value as [string, BusMessage];
        queue.delete(key);
        if (opts.rescope && Date.now() - scopedAt >= rescopeMs) {
          const now = await opts.rescope();
          if (!now) return;
          scope = now;
          scopedAt = Date.now();
        }
        // Queued under the scope of its arrival: check it against the current one.
        if (!eventVisibleTo(scope, m.teams)) continue;
        yield m.event;
      }
    } finally {
      this.off("message", onMessage);
      signal.removeEventListener("abort", onAbort);
    }
  }
}

function parseWire(payload: string): BusMessage | null {
  try {
    const w = wireEvent.parse(JSON.parse(payload));
    return { event: { kind: w.k, id: w.id, vmId: w.vm ?? null, state: w.s ?? null }, teams: w.t };
  } catch {
    console.warn("[events] ignored a malformed notification");
    return null;
  }
}

const buses = new Map<string, EventBus>();
const sources = new WeakMap<object, string>();

/** Tells the bus which database URL a Prisma client talks to (each process registers its client at its edge). */
export function registerEventSource(db: Db, url: string): void {
  sources.set(db, url);
}

/** The process's bus for this database. */
export function eventBusFor(db: Db): EventBus {
  const url = sources.get(db);
  if (!url)
    throw new Error("live updates need the database URL of this client: registerEventSource(db, url)");
  let bus = buses.get(url);
  if (!bus) {
    bus = new EventBus(url);
    buses.set(url, bus);
  }
  return bus;
}

/** What the live stream needs, as the adapter's guard checks it when the stream opens. */
export const LIVE_EVENTS_PERMISSION = "job:read" satisfies TeamPermission;

/**
 * The actor's scope for the live stream as it is now, or null when they may no longer have it: the account is
 * gone or disabled, must change its password, or no longer holds the permission anywhere (the guard's rules).
 */
export async function liveEventsScope(db: Db, actor: Actor): Promise<Actor | null> {
  const user = await db.user.findUnique({
    where: { id: actor.userId },
    select: { name: true, email: true, role: true, banned: true, mustChangePassword: true },
  });
  if (!user || user.banned || user.mustChangePassword) return null;
  const person = {
    userId: actor.userId,
    name: user.name,
    email: user.email,
    siteAdmin: user.role === "admin",
  };
  const scope = await actorFor(db, person, LIVE_EVENTS_PERMISSION);
  return scope.siteAdmin || scope.teamIds.length > 0 ? scope : null;
}

/**
 * The live events the actor may see until `signal` aborts, re-checking their scope while the stream runs (at
 * most every `rescopeMs`, when there is something to send): a team left meanwhile sends nothing more, a
 * disabled account's stream ends.
 */
export function liveEvents(
  db: Db,
  actor: Actor,
  signal: AbortSignal,
  opts: { rescopeMs?: number } = {},
): AsyncGenerator<LiveEvent> {
  return eventBusFor(db).subscribe(actor, signal, {
    rescope: () => liveEventsScope(db, actor),
    rescopeMs: opts.rescopeMs,
  });
}

/** Closes every bus of this process (tests, shutdown). */
export async function closeEventBuses(): Promise<void> {
  const all = [...buses.values()];
  buses.clear();
  await Promise.all(all.map((b) => b.close()));
}
