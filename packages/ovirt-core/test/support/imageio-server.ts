import { execFileSync } from "node:child_process";
import { type FileHandle, open } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { setTimeout as delay } from "node:timers/promises";

/**
 * Kept beside the simulator (issue 11 wants one double; not yet ported, see below). Needed today by
 * imageio-download.test.ts, imageio-upload.test.ts, apps/cli/test/imageio.test.ts and bench/imageio.ts for what
 * the simulator's daemon cannot do: answer OPTIONS 405/204 as pre-OPTIONS daemons and old proxies do, serve a
 * ticket straight from an arbitrary file with chosen extents and max_readers/max_writers, count open connections
 * and in-flight requests per ticket, stall or slow a range, and log every request. The tests that need none of
 * that (plain byte-for-byte download/upload, extents, drop mid-body and 500-once, which the simulator's
 * `drop`/`fail` faults cover) are to move onto @lifeboat/ovirt-sim/testing.
 *
 * An HTTPS server behaving as the ovirt-imageio daemon does (imageio-observed.md, ref §5): OPTIONS, ranged GET,
 * PUT with Content-Range and ?flush, PATCH zero/flush, extents, text/plain one-line errors, 403 with
 * `connection: close`, the 416 rules. Tickets are backed by real files. Faults can be injected.
 */
export interface TestExtent {
  start: number;
  length: number;
  zero: boolean;
  hole: boolean;
}

export interface TicketSpec {
  id: string;
  /** Backing file (raw). For write tickets it is written in place. */
  file: string;
  ops: Array<"read" | "write">;
  /** Ticket size (default: the file's size). */
  size?: number;
  /** `file`: one data extent (as the file backend); `nbd`: data/zero extents from `qemu-img map`. */
  backend?: "file" | "nbd";
  /** Extents to answer instead (e.g. with holes). */
  extents?: TestExtent[];
  maxReaders?: number;
  /** Default: 1 for the file backend, 8 for nbd (as observed). */
  maxWriters?: number;
  /** Feature list override (e.g. [] or ["extents"] to model older servers). */
  features?: string[];
  /** Answer OPTIONS like an old daemon (405) or old proxy (204). */
  optionsStatus?: 200 | 204 | 405;
  transferId?: string;
  /** The file starts all zero (fresh sparse file): PATCH zero may skip ranges nothing has written. */
  startsZero?: boolean;
}

export interface Faults {
  /** The next N ranged GETs send half their body, then the connection is dropped. */
  dropMidRange: number;
  /** The next N data requests (GET range / PUT / PATCH) answer 500. */
  fail500: number;
  /** Delay between 1 MiB chunks of GET bodies and before PUT answers, ms. */
  slowMs: number;
  /** The next N ranged GETs stall this long before sending their body. */
  stallCount: number;
  stallMs: number;
  /** Every request for the ticket answers 403 `Transfer=<id> expired`. */
  expired: boolean;
}

export interface RequestLog {
  method: string;
  ticket: string;
  path: string;
  range?: string;
  contentRange?: string;
  query: string;
  body?: unknown;
  socket: number;
  status?: number;
}

interface Ticket extends TicketSpec {
  fh: FileHandle;
  fileSize: number;
  inFlight: number;
  maxInFlight: number;
  sockets: Set<number>;
  written: Array<[number, number]>;
}

const CHUNK = 1024 * 1024;

export class ImageioTestServer {
  readonly faults: Faults = {
    dropMidRange: 0,
    fail500: 0,
    slowMs: 0,
    stallCount: 0,
    stallMs: 0,
    expired: false,
  };
  readonly log: RequestLog[] = [];
  /** Connections opened over the server's life. */
  connectionsOpened = 0;
  private readonly open = new Set<Socket>();
  private readonly socketIds = new WeakMap<Socket, number>();
  private readonly tickets = new Map<string, Ticket>();

  private constructor(private readonly server: Server) {}

  static async start(tls: { certPem: string; keyPem: string }, port = 0): Promise<ImageioTestServer> {
    const server = createServer({ cert: tls.certPem, key: tls.keyPem });
    server.keepAliveTimeout = 60_000;
    const s = new ImageioTestServer(server);
    server.on("secureConnection", (sock: Socket) => {
      s.connectionsOpened++;
      s.socketIds.set(sock, s.connectionsOpened);
      s.open.add(sock);
      sock.on("close", () => s.open.delete(sock));
    });
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      s.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) s.error(res, 500, `Internal error: ${String(e)}`);
        else res.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return s;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(ticketId: string): string {
    return `https://127.0.0.1:${this.port}/images/${ticketId}`;
  }

  /** Connections open right now. */
  get openConnections(): number {
    return this.open.size;
  }

  async addTicket(spec: TicketSpec): Promise<void> {
    const fh = await open(spec.file, spec.ops.includes("write") ? "r+" : "r");
    const fileSize = (await fh.stat()).size;
    this.tickets.set(spec.id, {
      ...spec,
      fh,
      fileSize,
      inFlight: 0,
      maxInFlight: 0,
      sockets: new Set(),
      written: [],
    });
  }

  /** Most concurrent requests and distinct connections seen for a ticket. */
  ticketStats(id: string): { maxInFlight: number; connections: number } {
    const t = this.tickets.get(id);
    return { maxInFlight: t?.maxInFlight ?? 0, connections: t?.sockets.size ?? 0 };
  }

  async removeTicket(id: string): Promise<void> {
    const t = this.tickets.get(id);
    this.tickets.delete(id);
    await t?.fh.close();
  }

  async close(): Promise<void> {
    for (const sock of this.open) sock.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const id of [...this.tickets.keys()]) await this.removeTicket(id);
  }

  private error(
    res: ServerResponse,
    status: number,
    message: string,
    close = false,
    extra: Record<string, string> = {},
  ) {
    const body = `${message}\n`;
    res.writeHead(status, {
      server: "imageio/2.5.3",
      "content-type": "text/plain; charset=UTF-8",
      "content-length": Buffer.byteLength(body),
      ...(close ? { connection: "close" } : {}),
      ...extra,
    });
    res.end(body);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "https://imageio");
    const m = /^\/images\/([^/]*)(\/.*)?$/.exec(url.pathname);
    if (!m) return this.error(res, 404, `No handler for ${url.pathname}`);
    const [, id = "", sub = ""] = m;
    const entry: RequestLog = {
      method: req.method ?? "",
      ticket: id,
      path: sub,
      query: url.search,
      range: req.headers.range,
      contentRange: req.headers["content-range"],
      socket: this.socketIds.get(req.socket) ?? 0,
    };
    this.log.push(entry);
    res.on("finish", () => {
      entry.status = res.statusCode;
    });
    if (id === "") return this.error(res, 400, "Invalid ticket id");
    const ticket = this.tickets.get(sub && sub !== "/extents" ? `${id}${sub}` : id);
    if (!ticket) {
      await drain(req);
      return this.error(
        res,
        403,
        `You are not allowed to access this resource: No such ticket ${id}${sub}`,
        true,
      );
    }
    if (this.faults.expired) {
      await drain(req);
      return this.error(
        res,
        403,
        `You are not allowed to access this resource: Transfer=${ticket.transferId ?? ticket.id} expired`,
        true,
      );
    }
    ticket.sockets.add(entry.socket);
    ticket.inFlight++;
    ticket.maxInFlight = Math.max(ticket.maxInFlight, ticket.inFlight);
    try {
      if (sub === "/extents") return await this.extents(ticket, url, res);
      switch (req.method) {
        case "OPTIONS":
          return this.options(ticket, res);
        case "GET":
          return await this.get(ticket, req, res);
        case "PUT":
          return await this.put(ticket, req, res, url);
        case "PATCH":
          return await this.patch(ticket, req, res, entry);
        default:
          await drain(req);
          return this.error(res, 405, `Method ${req.method} not allowed`);
      }
    } finally {
      ticket.inFlight--;
    }
  }

  private size(t: Ticket): number {
    return Math.min(t.size ?? t.fileSize, t.fileSize);
  }

  private writable(t: Ticket): boolean {
    return t.ops.includes("write");
  }

  private options(t: Ticket, res: ServerResponse): void {
    if (t.optionsStatus === 405) {
      this.error(res, 405, "Method OPTIONS not allowed");
      return;
    }
    if (t.optionsStatus === 204) {
      res.writeHead(204, { server: "imageio/1.0" });
      res.end();
      return;
    }
    const features =
      t.features ?? (this.writable(t) ? ["checksum", "extents", "flush", "zero"] : ["checksum", "extents"]);
    const body = JSON.stringify({
      features,
      max_readers: t.maxReaders ?? 8,
      max_writers: t.maxWriters ?? ((t.backend ?? "file") === "file" ? 1 : 8),
    });
    res.writeHead(200, {
      server: "imageio/2.5.3",
      allow: this.writable(t) ? "OPTIONS,GET,PUT,PATCH" : "OPTIONS,GET",
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  }

  private async extents(t: Ticket, url: URL, res: ServerResponse): Promise<void> {
    const context = url.searchParams.get("context") ?? "zero";
    if (context === "dirty") return this.error(res, 404, "Ticket does not support dirty extents");
    if (context !== "zero") return this.error(res, 400, `Invalid context ${context}`);
    const list = t.extents ?? this.computeExtents(t);
    const body = JSON.stringify(list);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  private computeExtents(t: Ticket): TestExtent[] {
    const size = this.size(t);
    if ((t.backend ?? "file") === "file") return [{ start: 0, length: size, zero: false, hole: false }];
    const map = JSON.parse(
      execFileSync("qemu-img", ["map", "--output=json", "-f", "raw", t.file], { encoding: "utf8" }),
    ) as Array<{
      start: number;
      length: number;
      zero: boolean;
      data: boolean;
    }>;
    const out: TestExtent[] = [];
    for (const e of map) {
      if (e.start >= size) break;
      const length = Math.min(e.length, size - e.start);
      const zero = e.zero || !e.data;
      const last = out[out.length - 1];
      if (last && last.zero === zero) last.length += length;
      else out.push({ start: e.start, length, zero, hole: false });
    }
    return out;
  }

  private async get(t: Ticket, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const size = this.size(t);
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range !== undefined) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!m)
        return this.error(res, 416, `Unsupported range ${range}`, false, {
          "content-range": `bytes */${size}`,
        });
      start = Number(m[1]);
      end = m[2] ? Number(m[2]) : size - 1;
      if (end < start)
        return this.error(res, 416, `Invalid range ${range}`, false, { "content-range": `bytes */${size}` });
      if (end >= (t.size ?? t.fileSize))
        return this.error(res, 416, `Requested range ${range} past the ticket size`, false, {
          "content-range": `bytes */${size}`,
        });
      if (end >= t.fileSize)
        return this.error(res, 416, "Requested more bytes than available", false, {
          "content-range": `bytes */${size}`,
        });
      status = 206;
      if (this.faults.fail500 > 0) {
        this.faults.fail500--;
        return this.error(res, 500, "Server failed to read, check logs");
      }
    }
    const length = end - start + 1;
    const headers: Record<string, string | number> = {
      server: "imageio/2.5.3",
      "content-type": "application/octet-stream",
      "content-length": length,
      "content-disposition": "attachment",
    };
    if (status === 206) headers["content-range"] = `bytes ${start}-${end}/${size}`;
    let dropAt = Number.POSITIVE_INFINITY;
    if (range !== undefined && this.faults.dropMidRange > 0) {
      this.faults.dropMidRange--;
      dropAt = start + Math.floor(length / 2);
    }
    let stall = 0;
    if (range !== undefined && this.faults.stallCount > 0) {
      this.faults.stallCount--;
      stall = this.faults.stallMs;
    }
    res.writeHead(status, headers);
    if (stall) {
      res.flushHeaders();
      await delay(stall);
      if (res.destroyed) return;
    }
    for (let pos = start; pos <= end; ) {
      const n = Math.min(CHUNK, end + 1 - pos, dropAt - pos > 0 ? dropAt - pos : CHUNK);
      if (pos >= dropAt) {
        // Let what was sent reach the client, then cut the connection mid-body.
        await new Promise<void>((resolve) => res.write("", () => resolve()));
        req.socket.destroy();
        return;
      }
      const buf = Buffer.allocUnsafe(n);
      await readFully(t.fh, buf, pos);
      if (!res.write(buf)) await drained(res);
      if (res.destroyed) return;
      if (this.faults.slowMs) await delay(this.faults.slowMs);
      pos += n;
    }
    res.end();
  }

  private async put(t: Ticket, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (!this.writable(t)) {
      await drain(req);
      return this.error(
        res,
        403,
        `You are not allowed to access this resource: Transfer=${t.transferId ?? t.id} forbids write`,
        true,
      );
    }
    if (req.headers["content-length"] === undefined) {
      await drain(req);
      return this.error(res, 400, "Content-Length header is required", true);
    }
    const length = Number(req.headers["content-length"]);
    let offset = 0;
    const cr = req.headers["content-range"];
    if (cr !== undefined) {
      const m = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(cr);
      if (!m) {
        await drain(req);
        return this.error(res, 400, `Invalid Content-Range header: ${cr}`, true);
      }
      offset = Number(m[1]);
    }
    if (offset + length > (t.size ?? t.fileSize)) {
      await drain(req);
      return this.error(res, 416, `Requested range past the ticket size ${t.size ?? t.fileSize}`, true, {
        "content-range": `bytes */${t.size ?? t.fileSize}`,
      });
    }
    if (this.faults.fail500 > 0) {
      this.faults.fail500--;
      await drain(req);
      return this.error(res, 500, "Server failed to write, check logs");
    }
    let pos = offset;
    for await (const chunk of req) {
      const b = chunk as Buffer;
      await t.fh.write(b, 0, b.length, pos);
      pos += b.length;
    }
    if (pos - offset !== length)
      return this.error(res, 400, `Requested ${length} bytes, available ${pos - offset} bytes`, true);
    markWritten(t, offset, pos);
    if (url.searchParams.get("flush") !== "n") await t.fh.sync();
    if (this.faults.slowMs) await delay(this.faults.slowMs);
    res.writeHead(200, { server: "imageio/2.5.3", "content-length": 0 });
    res.end();
  }

  private async patch(
    t: Ticket,
    req: IncomingMessage,
    res: ServerResponse,
    entry: RequestLog,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (!this.writable(t))
      return this.error(
        res,
        403,
        `You are not allowed to access this resource: Transfer=${t.transferId ?? t.id} forbids write`,
        true,
      );
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
    } catch {
      return this.error(res, 400, "Invalid JSON message");
    }
    entry.body = msg;
    if (this.faults.fail500 > 0) {
      this.faults.fail500--;
      return this.error(res, 500, "Server failed to zero, check logs");
    }
    if (msg.op === "flush") {
      await t.fh.sync();
    } else if (msg.op === "zero") {
      if (msg.size === undefined) return this.error(res, 400, "Missing required value for 'size'");
      const size = msg.size;
      const offset = msg.offset ?? 0;
      if (!Number.isSafeInteger(size) || !Number.isSafeInteger(offset))
        return this.error(res, 400, "Integer required");
      if (msg.flush !== undefined && typeof msg.flush !== "boolean")
        return this.error(res, 400, "Boolean required");
      if ((offset as number) + (size as number) > (t.size ?? t.fileSize))
        return this.error(res, 416, "Requested range past the ticket size");
      await zeroRange(t, offset as number, size as number);
      if (msg.flush === true) await t.fh.sync();
    } else return this.error(res, 400, `Unsupported value ${JSON.stringify(msg.op)} for 'op'`);
    res.writeHead(200, { server: "imageio/2.5.3", "content-length": 0 });
    res.end();
  }
}

/** Waits until the response can take more data, or was closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) {
    // discard
  }
}

async function readFully(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, pos + got);
    if (bytesRead === 0) {
      buf.fill(0, got);
      return;
    }
    got += bytesRead;
  }
}

function markWritten(t: Ticket, start: number, end: number): void {
  t.written.push([start, end]);
}

/** Writes zeroes, skipping what was never written when the file started all zero (like punching holes). */
async function zeroRange(t: Ticket, offset: number, size: number): Promise<void> {
  const end = offset + size;
  const ranges: Array<[number, number]> = t.startsZero
    ? t.written
        .filter(([s, e]) => s < end && e > offset)
        .map(([s, e]) => [Math.max(s, offset), Math.min(e, end)])
    : [[offset, end]];
  const zero = Buffer.alloc(1024 * 1024);
  for (const [s, e] of ranges)
    for (let pos = s; pos < e; pos += zero.length)
      await t.fh.write(zero, 0, Math.min(zero.length, e - pos), pos);
}
