import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** One request the daemon (or proxy) port received, as a test inspects it. */
export interface ImageioRequestRecord {
  method: string;
  /** The ticket id: the first path segment after `/images/`. */
  ticket: string;
  /** What follows the ticket id: `""` for the image itself, `/extents`, `/checksum`, … */
  path: string;
  /** The query string as sent (`?flush=n`), `""` without one. */
  query: string;
  range?: string;
  contentRange?: string;
  /** The parsed JSON of a PATCH. */
  body?: unknown;
  /** Which connection carried it: 1, 2, … in the order the connections were first seen. */
  socket: number;
  /** The answer's status, once sent. */
  status?: number;
}

interface TicketCounts {
  inFlight: number;
  maxInFlight: number;
  sockets: Set<number>;
}

/**
 * Test inspection of the daemon's data API: what each request asked for and how many requests and connections
 * a ticket saw at once. Off until a test turns it on (`recordImageio` of `@lifeboat/ovirt-sim/testing`), so a
 * long-running simulator keeps nothing.
 */
export class ImageioRecorder {
  enabled = false;
  readonly requests: ImageioRequestRecord[] = [];
  private readonly socketIds = new WeakMap<Socket, number>();
  private readonly byRequest = new WeakMap<IncomingMessage, ImageioRequestRecord>();
  private readonly counts = new Map<string, TicketCounts>();
  private sockets = 0;

  /** Called first for every request. */
  start(req: IncomingMessage, res: ServerResponse): void {
    if (!this.enabled) return;
    const url = new URL(req.url ?? "/", "http://imageio");
    const m = /^\/images\/([^/]*)(\/.*)?$/.exec(url.pathname);
    let socket = this.socketIds.get(req.socket);
    if (socket === undefined) {
      socket = ++this.sockets;
      this.socketIds.set(req.socket, socket);
    }
    const rec: ImageioRequestRecord = {
      method: (req.method ?? "GET").toUpperCase(),
      ticket: m?.[1] ?? "",
      path: m ? (m[2] ?? "") : url.pathname,
      query: url.search,
      range: req.headers.range,
      contentRange: req.headers["content-range"],
      socket,
    };
    this.requests.push(rec);
    this.byRequest.set(req, rec);
    let c = this.counts.get(rec.ticket);
    if (!c) {
      c = { inFlight: 0, maxInFlight: 0, sockets: new Set() };
      this.counts.set(rec.ticket, c);
    }
    const counts = c;
    counts.sockets.add(socket);
    counts.inFlight++;
    counts.maxInFlight = Math.max(counts.maxInFlight, counts.inFlight);
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      counts.inFlight--;
      if (res.headersSent) rec.status = res.statusCode;
    };
    res.once("finish", end);
    res.once("close", end);
  }

  /** The parsed body of a PATCH (called by the PATCH handler). */
  body(req: IncomingMessage, body: unknown): void {
    const rec = this.byRequest.get(req);
    if (rec) rec.body = body;
  }

  /** Most requests of a ticket in flight at once, and how many connections carried its requests. */
  ticketStats(ticketId: string): { maxInFlight: number; connections: number } {
    const c = this.counts.get(ticketId);
    return { maxInFlight: c?.maxInFlight ?? 0, connections: c?.sockets.size ?? 0 };
  }

  clear(): void {
    this.requests.length = 0;
    this.counts.clear();
  }
}
