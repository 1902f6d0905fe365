import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import type { ImageioTicketSpec } from "@lifeboat/ovirt-protocol";
import type { Ranges } from "../model";
import type { SimClock } from "../util/clock";
import type { VolumeLayer } from "../volumes/chain";

/** What a ticket's data requests touch: the volume file as is, or the guest view of a chain (NBD). */
export type TicketBackend =
  /** `minSize`: block storage serves the whole LV, past the end of the data. */
  | { kind: "file"; path: string; lockKey: string; minSize?: number }
  /** `dirty`: a backup export's guest ranges written since its from-checkpoint (the `context=dirty` map). */
  | { kind: "nbd"; layers: VolumeLayer[]; shallow: boolean; lockKey: string; dirty?: Ranges };

export class TicketError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class Ticket {
  canceled = false;
  readonly connections = new Set<Socket>();
  inflight = 0;
  transferred = 0;
  /** Epoch ms of the end of the last request (or of creation). */
  lastActivity: number;
  expires: number;
  private drainWaiters: Array<() => void> = [];

  constructor(
    readonly spec: ImageioTicketSpec,
    readonly backend: TicketBackend | null,
    private readonly clock: SimClock,
  ) {
    this.lastActivity = clock.now();
    this.expires = clock.now() + spec.timeout * 1000;
  }

  get id(): string {
    return this.spec.uuid;
  }

  /** `write` implies `read`. */
  may(op: "read" | "write"): boolean {
    return this.spec.ops.includes(op) || (op === "read" && this.spec.ops.includes("write"));
  }

  get writable(): boolean {
    return this.spec.ops.includes("write");
  }

  expired(): boolean {
    return this.clock.now() >= this.expires;
  }

  begin(): void {
    this.inflight++;
  }

  /** A request ended: counts as activity and refreshes the expiry, as the daemon does. */
  end(): void {
    this.inflight = Math.max(0, this.inflight - 1);
    this.touch();
    if (this.inflight === 0) {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const f of w) f();
    }
  }

  touch(): void {
    this.lastActivity = this.clock.now();
    if (!this.canceled) this.expires = Math.max(this.expires, this.clock.now() + this.spec.timeout * 1000);
  }

  extend(timeoutS: number): void {
    this.expires = this.clock.now() + timeoutS * 1000;
  }

  /** Seconds since the last activity; 0 while a request is in flight (daemon semantics). */
  idleSeconds(): number {
    return this.inflight > 0 ? 0 : Math.floor((this.clock.now() - this.lastActivity) / 1000);
  }

  drained(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** `GET /tickets/<id>`: the ticket plus live fields; `expires` is in (simulated) monotonic seconds. */
  status(): Record<string, unknown> {
    const s: Record<string, unknown> = {
      ...this.spec,
      active: this.inflight > 0,
      canceled: this.canceled,
      connections: this.connections.size,
      expires: Math.floor(this.expires / 1000),
      idle_time: this.idleSeconds(),
    };
    if (this.spec.ops.length === 1) s.transferred = this.transferred;
    return s;
  }
}

function fieldError(msg: string): never {
  throw new TicketError(400, `Invalid ticket: ${msg}`);
}

/** Validates a control-API ticket with the daemon's strict types. */
export function parseTicketSpec(json: unknown, uuidFromPath?: string): ImageioTicketSpec {
  if (typeof json !== "object" || json === null || Array.isArray(json))
    fieldError("ticket must be a JSON object");
  const o = json as Record<string, unknown>;
  const req = (k: string) => {
    if (!(k in o)) fieldError(`Missing required key '${k}'`);
    return o[k];
  };
  const int = (k: string, v: unknown) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
      fieldError(`Invalid value for '${k}': ${JSON.stringify(v)}`);
    return v as number;
  };
  const str = (k: string, v: unknown) => {
    if (typeof v !== "string") fieldError(`Invalid value for '${k}': ${JSON.stringify(v)}`);
    return v as string;
  };
  const boolOpt = (k: string, d: boolean) => {
    if (!(k in o)) return d;
    if (typeof o[k] !== "boolean") fieldError(`Invalid value for '${k}': ${JSON.stringify(o[k])}`);
    return o[k] as boolean;
  };
  const uuid = str("uuid", req("uuid"));
  if (uuidFromPath !== undefined && uuid !== uuidFromPath) fieldError(`uuid ${uuid} does not match the URL`);
  const size = int("size", req("size"));
  const opsRaw = req("ops");
  if (!Array.isArray(opsRaw) || opsRaw.some((x) => x !== "read" && x !== "write"))
    fieldError(`Invalid value for 'ops': ${JSON.stringify(opsRaw)}`);
  const timeout = int("timeout", req("timeout"));
  const url = str("url", req("url"));
  const scheme = url.split(":")[0];
  if (!["file", "nbd", "http", "https"].includes(scheme ?? "")) fieldError(`Unsupported url scheme: ${url}`);
  const spec: ImageioTicketSpec = {
    uuid,
    size,
    ops: opsRaw as Array<"read" | "write">,
    timeout,
    url,
    inactivity_timeout: "inactivity_timeout" in o ? int("inactivity_timeout", o.inactivity_timeout) : 60,
    sparse: boolOpt("sparse", false),
    dirty: boolOpt("dirty", false),
  };
  if ("transfer_id" in o) spec.transfer_id = str("transfer_id", o.transfer_id);
  if ("filename" in o) spec.filename = str("filename", o.filename);
  return spec;
}

/** The daemon's ticket table, shared by the engine side (which adds and removes tickets) and the data API. */
export class TicketRegistry {
  private readonly tickets = new Map<string, Ticket>();

  constructor(private readonly clock: SimClock) {}

  add(spec: ImageioTicketSpec, backend?: TicketBackend): Ticket {
    let be: TicketBackend | null = backend ?? null;
    if (!be && spec.url.startsWith("file:")) {
      const p = fileURLToPath(spec.url);
      be = { kind: "file", path: p, lockKey: p };
    }
    const t = new Ticket(spec, be, this.clock);
    const old = this.tickets.get(spec.uuid);
    if (old) old.canceled = true;
    this.tickets.set(spec.uuid, t);
    return t;
  }

  get(id: string): Ticket | undefined {
    return this.tickets.get(id);
  }

  list(): Ticket[] {
    return [...this.tickets.values()];
  }

  /**
   * Removes a ticket: new requests are refused at once; waits up to `timeoutMs` for requests in flight
   * (the daemon answers 409 "Timeout cancelling transfer" after that and the caller retries).
   */
  async remove(id: string, timeoutMs = 60_000): Promise<boolean> {
    const t = this.tickets.get(id);
    if (!t) return true;
    t.canceled = true;
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      t.drained().then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeoutMs);
      }),
    ]);
    if (timer) clearTimeout(timer);
    if (!ok) return false;
    if (this.tickets.get(id) === t) this.tickets.delete(id);
    return true;
  }

  clear(): void {
    for (const t of this.tickets.values()) t.canceled = true;
    this.tickets.clear();
  }
}
