import { type FileHandle, open } from "node:fs/promises";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { zeroRaw } from "@lifeboat/disk-image";
import type {
  ImageioChecksumBody,
  ImageioExtent,
  ImageioFeature,
  ImageioOptionsBody,
} from "@lifeboat/ovirt-protocol";
import type { FaultInjector, FaultSpec } from "../faults";
import { readBody, sleep } from "../http";
import type { Ranges } from "../model";
import type { KeyedMutex } from "../util/mutex";
import { openVolumeChain } from "../volumes/chain";
import { openGuestView } from "../volumes/guest-view";
import { BlockHash, CHECKSUM_ALGORITHMS, type ChecksumAlgorithm, DEFAULT_BLOCK_SIZE } from "./checksum";
import type { ImageioRecorder } from "./recorder";
import { type Ticket, TicketError, type TicketRegistry } from "./tickets";

export const IMAGEIO_VERSION = "2.5.3";
const SERVER_HEADER = `imageio/${IMAGEIO_VERSION}`;
const CHUNK = 4 * 1024 * 1024;
const NBD_WRITE_PIECE = 8 * 1024 * 1024;
const FILE_WRITE_PIECE = 4 * 1024 * 1024;

export interface ImageioDeps {
  tickets: TicketRegistry;
  faults: FaultInjector;
  /** The engine's per-disk mutex: NBD writes modify qcow2 metadata and must not interleave. */
  mutex: KeyedMutex;
  /** Test inspection of requests (inert unless enabled). */
  recorder?: ImageioRecorder;
}

type OptionsFault = Extract<FaultSpec, { kind: "options" }>;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly close = false,
  ) {
    super(message);
  }
}

/** Tickets a connection has used, to keep each ticket's `connections` count right. */
const socketTickets = new WeakMap<Socket, Set<Ticket>>();

const forbidden = (msg: string) =>
  new HttpError(403, `You are not allowed to access this resource: ${msg}`, {}, true);

function sendError(res: ServerResponse, e: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(`${e.message}\n`);
  const headers: Record<string, string | number> = {
    server: SERVER_HEADER,
    "content-type": "text/plain; charset=UTF-8",
    "content-length": body.length,
    ...e.headers,
  };
  if (e.close) headers.connection = "close";
  res.writeHead(e.status, headers);
  res.end(body);
}

function sendJsonBody(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    server: SERVER_HEADER,
    "content-type": "application/json",
    "content-length": text.length,
    ...headers,
  });
  res.end(text);
}

function sendOk(res: ServerResponse): void {
  res.writeHead(200, { server: SERVER_HEADER, "content-length": 0 });
  res.end();
}

function waitDrain(res: ServerResponse): Promise<void> {
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

/** The bytes a ticket exposes: the volume file as is, or the guest view of a chain. */
interface DataSource {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
  extents(): Promise<ImageioExtent[]>;
  close(): Promise<void>;
}

async function openSource(t: Ticket): Promise<DataSource> {
  const be = t.backend;
  if (!be) throw new HttpError(500, "Server failed to perform the request, check logs");
  if (be.kind === "file") {
    let fh: FileHandle;
    try {
      fh = await open(be.path, "r");
    } catch {
      throw new HttpError(500, "Server failed to perform the request, check logs");
    }
    const size = Math.max((await fh.stat()).size, be.minSize ?? 0);
    return {
      size,
      async read(offset, length) {
        const buf = Buffer.allocUnsafe(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        // Past the end of the file (an LV is longer than its data) reads as zeroes.
        if (done < length) buf.fill(0, done);
        return buf;
      },
      extents: async () => [{ start: 0, length: size, zero: false, hole: false }],
      close: () => fh.close(),
    };
  }
  try {
    return await openGuestView(be.layers, { shallow: be.shallow });
  } catch {
    throw new HttpError(500, "Server failed to perform the request, check logs");
  }
}

/**
 * A request's writer. File backend: one handle for the request (the client writes the file's bytes as is).
 * NBD: each piece under the disk mutex with a fresh chain, as the qcow2 metadata changes between pieces.
 */
async function openWriter(
  deps: ImageioDeps,
  t: Ticket,
): Promise<{ write(offset: number, data: Buffer): Promise<void>; close(): Promise<void> }> {
  const be = t.backend;
  if (!be) throw new HttpError(500, "Server failed to perform the request, check logs");
  if (be.kind === "file") {
    const fh = await open(be.path, "r+");
    return {
      write: async (offset, data) => {
        await fh.write(data, 0, data.length, offset);
      },
      close: () => fh.close(),
    };
  }
  return {
    write: (offset, data) =>
      deps.mutex.run(be.lockKey, async () => {
        const chain = await openVolumeChain(be.layers, { writable: true });
        try {
          await chain.write(offset, data);
        } finally {
          await chain.close();
        }
      }),
    close: async () => {},
  };
}

async function zeroIn(deps: ImageioDeps, t: Ticket, offset: number, size: number): Promise<void> {
  const be = t.backend;
  if (!be) throw new HttpError(500, "Server failed to perform the request, check logs");
  if (be.kind === "file") {
    const fh = await open(be.path, "r+");
    try {
      await zeroRaw(fh, offset, size);
    } finally {
      await fh.close();
    }
    return;
  }
  await deps.mutex.run(be.lockKey, async () => {
    const chain = await openVolumeChain(be.layers, { writable: true });
    try {
      const end = Math.min(offset + size, chain.size);
      if (end > offset) await chain.zero(offset, end - offset);
    } finally {
      await chain.close();
    }
  });
}

async function flushTicket(t: Ticket): Promise<void> {
  const be = t.backend;
  if (!be) return;
  const paths = be.kind === "file" ? [be.path] : [be.layers[be.layers.length - 1]?.path ?? ""];
  for (const p of paths) {
    const fh = await open(p, "r+");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

function authorize(deps: ImageioDeps, id: string, op: "read" | "write"): Ticket {
  const t = deps.tickets.get(id);
  if (!t) throw forbidden(`No such ticket ${id}`);
  const name = t.spec.transfer_id ?? t.id;
  if (t.canceled) throw forbidden(`Transfer=${name} was canceled`);
  if (t.expired()) throw forbidden(`Transfer=${name} expired`);
  if (!t.may(op)) throw forbidden(`Transfer=${name} forbids ${op}`);
  return t;
}

function parseRange(header: string | undefined): { first: number; last: number | null } | "none" | "bad" {
  if (header === undefined) return "none";
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m) return "bad";
  const first = Number(m[1]);
  const last = m[2] === "" ? null : Number(m[2]);
  if (last !== null && last < first) return "bad";
  return { first, last };
}

function intOf(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : null;
}

/**
 * The daemon's data API (imageio-observed.md): `/images/<ticket>` OPTIONS/GET/PUT/PATCH, `/extents`,
 * `/checksum`, `/info/`, text/plain errors, `connection: close` after 403 and unread bodies. Used for both the
 * daemon port (transfer_url) and the proxy port (proxy_url).
 */
export function createImageioHandler(deps: ImageioDeps) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://imageio");
    const path = url.pathname;
    const method = (req.method ?? "GET").toUpperCase();
    deps.recorder?.start(req, res);
    if (req.headers.origin) {
      res.setHeader("access-control-allow-origin", "*");
      res.setHeader("access-control-allow-methods", "OPTIONS,GET,PUT");
      res.setHeader("access-control-allow-headers", "content-type,content-range,range");
      res.setHeader("access-control-max-age", "86400");
    }
    try {
      if (path === "/info/" || path === "/info") {
        if (method !== "GET") throw new HttpError(405, `Method not allowed: ${method}`);
        return sendJsonBody(res, 200, { version: IMAGEIO_VERSION });
      }
      if (!path.startsWith("/images")) throw new HttpError(404, `No handler for ${path}`);
      if (path === "/images/*" && method === "OPTIONS") {
        return sendJsonBody(
          res,
          200,
          { features: ["checksum", "extents", "flush", "zero"] },
          { allow: "OPTIONS,GET,PUT,PATCH" },
        );
      }
      const rest = path.slice("/images".length);
      if (rest === "" || rest === "/") throw new HttpError(400, "Missing ticket id", {}, true);
      const sub = rest.slice(1);
      let id = sub;
      let resource: "image" | "extents" | "checksum" | "algorithms" = "image";
      const parts = sub.split("/");
      if (parts.length === 2 && parts[1] === "extents") {
        id = parts[0] as string;
        resource = "extents";
      } else if (parts.length === 2 && parts[1] === "checksum") {
        id = parts[0] as string;
        resource = "checksum";
      } else if (parts.length === 3 && parts[1] === "checksum" && parts[2] === "algorithms") {
        id = parts[0] as string;
        resource = "algorithms";
      }
      // (Other sub-paths keep the whole rest as the "ticket id" and fail as an unknown ticket, like the daemon.)
      if (resource === "image" && !["OPTIONS", "GET", "PUT", "PATCH"].includes(method))
        throw new HttpError(405, `Method not allowed: ${method}`, { allow: "OPTIONS,GET,PUT,PATCH" });
      if (resource !== "image" && method !== "GET") throw new HttpError(405, `Method not allowed: ${method}`);

      const op =
        resource === "image"
          ? `images.${method.toLowerCase()}`
          : resource === "extents"
            ? "images.extents"
            : "images.checksum";
      const needs = method === "PUT" || method === "PATCH" ? "write" : "read";
      const t = authorize(deps, id, needs);
      t.begin();
      // The request ends when its answer is handed to the socket (or the connection is gone).
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        t.end();
      };
      res.once("finish", end);
      res.once("close", end);
      const socket = req.socket;
      t.connections.add(socket);
      let seen = socketTickets.get(socket);
      if (!seen) {
        const mine = new Set<Ticket>();
        seen = mine;
        socketTickets.set(socket, mine);
        socket.once("close", () => {
          for (const x of mine) x.connections.delete(socket);
        });
      }
      seen.add(t);
      // After the first authorized request, the socket timeout is the ticket's inactivity timeout.
      socket.setTimeout(t.spec.inactivity_timeout * 1000);

      const delay = deps.faults.latencyFor("imageio", op);
      if (delay) await sleep(delay);
      const injected = deps.faults.takeFailure(op);
      if (injected)
        throw new HttpError(
          injected.status,
          injected.detail ??
            (injected.status >= 500
              ? "Server failed to perform the request, check logs"
              : `Operation ${op} failed (injected)`),
          {},
          method === "PUT",
        );

      if (resource === "algorithms") return sendJsonBody(res, 200, { algorithms: [...CHECKSUM_ALGORITHMS] });
      if (resource === "extents") return await handleExtents(t, url, res);
      if (resource === "checksum") return await handleChecksum(t, url, res);
      if (method === "OPTIONS") return handleOptions(t, res, deps.faults.optionsFor(t.id));
      if (method === "GET") return await handleGet(deps, t, req, res);
      if (method === "PUT") return await handlePut(deps, t, req, res, url);
      return await handlePatch(deps, t, req, res);
    } catch (e) {
      if (e instanceof HttpError) {
        if (e.close || method === "PUT" || method === "PATCH") req.resume();
        return sendError(res, e);
      }
      if (e instanceof TicketError) return sendError(res, new HttpError(e.status, e.message));
      sendError(res, new HttpError(500, "Server failed to perform the request, check logs", {}, true));
    }
  };
}

function handleOptions(t: Ticket, res: ServerResponse, as: OptionsFault | null): void {
  if (as?.status === 405) throw new HttpError(405, "Method not allowed: OPTIONS");
  if (as?.status === 204) {
    res.writeHead(204, { server: SERVER_HEADER });
    res.end();
    return;
  }
  const features: ImageioFeature[] = t.writable
    ? ["checksum", "extents", "flush", "zero"]
    : ["checksum", "extents"];
  const fileOnRegularFile = t.backend?.kind === "file";
  const body: ImageioOptionsBody = {
    features: (as?.features as ImageioFeature[] | undefined) ?? features,
    max_readers: as?.maxReaders ?? 8,
    max_writers: as?.maxWriters ?? (fileOnRegularFile ? 1 : 8),
  };
  sendJsonBody(res, 200, body, { allow: t.writable ? "OPTIONS,GET,PUT,PATCH" : "OPTIONS,GET" });
}

async function handleGet(
  deps: ImageioDeps,
  t: Ticket,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const src = await openSource(t);
  try {
    const available = Math.min(t.spec.size, src.size);
    const range = parseRange(req.headers.range);
    let first = 0;
    let end = available;
    let partial = false;
    if (range === "bad")
      throw new HttpError(416, "Invalid range", { "content-range": `bytes */${t.spec.size}` });
    if (range !== "none") {
      partial = true;
      first = range.first;
      end = range.last === null ? available : range.last + 1;
      if (end > t.spec.size)
        throw new HttpError(416, "Requested range exceeds ticket size", {
          "content-range": `bytes */${t.spec.size}`,
        });
      if (end > src.size || first >= end)
        throw new HttpError(416, "Requested more bytes than available", {
          "content-range": `bytes */${available}`,
        });
    }
    const length = end - first;
    const headers: Record<string, string | number> = {
      server: SERVER_HEADER,
      "content-type": "application/octet-stream",
      "content-length": length,
      "content-disposition": t.spec.filename ? `attachment; filename=${t.spec.filename}` : "attachment",
    };
    if (partial) headers["content-range"] = `bytes ${first}-${end - 1}/${t.spec.size}`;
    res.writeHead(partial ? 206 : 200, headers);
    const dropAfter = deps.faults.takeDrop("GET");
    let sent = 0;
    while (sent < length) {
      if (res.destroyed) return;
      const n = Math.min(CHUNK, length - sent);
      const buf = await src.read(first + sent, n);
      if (dropAfter !== null && sent + n > dropAfter) {
        const keep = Math.max(0, dropAfter - sent);
        if (keep > 0) res.write(buf.subarray(0, keep));
        t.transferred += keep;
        await new Promise((r) => setImmediate(r));
        req.socket.destroy();
        return;
      }
      t.transferred += n;
      sent += n;
      if (!res.write(buf)) await waitDrain(res);
    }
    res.end();
  } finally {
    await src.close();
  }
}

async function handlePut(
  deps: ImageioDeps,
  t: Ticket,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const cl = req.headers["content-length"];
  if (cl === undefined || req.headers["transfer-encoding"] !== undefined)
    throw new HttpError(400, "Missing Content-Length header", {}, true);
  const length = Number(cl);
  if (!Number.isSafeInteger(length) || length < 0)
    throw new HttpError(400, `Invalid Content-Length: ${cl}`, {}, true);
  let offset = 0;
  const cr = req.headers["content-range"];
  if (cr !== undefined) {
    const m = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(cr.trim());
    if (!m) throw new HttpError(400, `Invalid Content-Range header: ${cr}`, {}, true);
    offset = Number(m[1]);
    const last = m[2] === "*" ? null : Number(m[2]);
    const total = m[3] === "*" ? null : Number(m[3]);
    if (last !== null && last < offset)
      throw new HttpError(400, `Invalid Content-Range header: ${cr}`, {}, true);
    if (last !== null && total !== null && last >= total)
      throw new HttpError(400, `Invalid Content-Range header: ${cr}`, {}, true);
  }
  if (offset + length > t.spec.size)
    throw new HttpError(
      416,
      `Requested range exceeds ticket size`,
      { "content-range": `bytes */${t.spec.size}` },
      true,
    );
  const dropAfter = deps.faults.takeDrop("PUT");
  const piece = t.backend?.kind === "nbd" ? NBD_WRITE_PIECE : FILE_WRITE_PIECE;
  const writer = await openWriter(deps, t);
  let received = 0;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let pos = offset;
  const flushPending = async () => {
    if (pendingLen === 0) return;
    const data = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingLen);
    pending = [];
    pendingLen = 0;
    await writer.write(pos, data);
    pos += data.length;
  };
  try {
    for await (const chunk of req) {
      const c = chunk as Buffer;
      if (dropAfter !== null && received + c.length > dropAfter) {
        const keep = Math.max(0, dropAfter - received);
        if (keep > 0) {
          pending.push(c.subarray(0, keep));
          pendingLen += keep;
          await flushPending();
        }
        req.socket.destroy();
        return;
      }
      received += c.length;
      t.transferred += c.length;
      pending.push(c);
      pendingLen += c.length;
      if (pendingLen >= piece) await flushPending();
    }
    await flushPending();
  } finally {
    await writer.close();
  }
  if (received < length)
    throw new HttpError(400, `Requested ${length} bytes, available ${received} bytes`, {}, true);
  if (url.searchParams.get("flush") !== "n") await flushTicket(t);
  if (url.searchParams.get("close") === "y") res.setHeader("connection", "close");
  sendOk(res);
}

async function handlePatch(
  deps: ImageioDeps,
  t: Ticket,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let msg: unknown;
  try {
    msg = JSON.parse((await readBody(req, 64 * 1024)).toString("utf8"));
  } catch {
    throw new HttpError(400, "Invalid JSON message");
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg))
    throw new HttpError(400, "Invalid JSON message");
  const m = msg as Record<string, unknown>;
  deps.recorder?.body(req, m);
  if (!("op" in m)) throw new HttpError(400, "Missing required value for 'op'");
  if (m.op === "flush") {
    await flushTicket(t);
    return sendOk(res);
  }
  if (m.op !== "zero") throw new HttpError(400, `Unsupported value ${JSON.stringify(m.op)} for 'op'`);
  if (!("size" in m)) throw new HttpError(400, "Missing required value for 'size'");
  const size = intOf(m.size);
  if (size === null) throw new HttpError(400, `Integer required for 'size': ${JSON.stringify(m.size)}`);
  const offset = "offset" in m ? intOf(m.offset) : 0;
  if (offset === null) throw new HttpError(400, `Integer required for 'offset': ${JSON.stringify(m.offset)}`);
  if ("flush" in m && typeof m.flush !== "boolean")
    throw new HttpError(400, `Boolean required for 'flush': ${JSON.stringify(m.flush)}`);
  if (offset + size > t.spec.size)
    throw new HttpError(416, "Requested range exceeds ticket size", {
      "content-range": `bytes */${t.spec.size}`,
    });
  await zeroIn(deps, t, offset, size);
  if (m.flush === true) await flushTicket(t);
  sendOk(res);
}

async function handleExtents(t: Ticket, url: URL, res: ServerResponse): Promise<void> {
  const context = url.searchParams.get("context") ?? "zero";
  if (context !== "zero" && context !== "dirty") throw new HttpError(400, `Invalid context: ${context}`);
  const be = t.backend;
  if (context === "dirty" && (!t.spec.dirty || be?.kind !== "nbd" || !be.dirty))
    throw new HttpError(404, "Ticket does not support dirty extents");
  const src = await openSource(t);
  try {
    const limit = Math.min(t.spec.size, src.size);
    const out: ImageioExtent[] = [];
    for (const e of await src.extents()) {
      if (e.start >= limit) break;
      out.push({ ...e, length: Math.min(e.length, limit - e.start) });
    }
    const dirty = be?.kind === "nbd" ? be.dirty : undefined;
    sendJsonBody(res, 200, context === "dirty" && dirty ? dirtyExtents(out, dirty, limit) : out);
  } finally {
    await src.close();
  }
}

/**
 * The `context=dirty` answer: [0, size) split by the dirty ranges and by the zero extents of the view, as
 * imageio merges qemu's dirty bitmap with base:allocation (`zero` since imageio 2.2), same kinds merged.
 */
export function dirtyExtents(zero: ImageioExtent[], dirty: Ranges, size: number): ImageioExtent[] {
  const cuts = new Set<number>([0, size]);
  for (const e of zero) cuts.add(Math.min(size, e.start)).add(Math.min(size, e.start + e.length));
  for (const [a, b] of dirty) cuts.add(Math.min(size, a)).add(Math.min(size, b));
  const points = [...cuts].sort((a, b) => a - b);
  const out: Array<{ start: number; length: number; dirty: boolean; zero: boolean }> = [];
  let zi = 0;
  let di = 0;
  for (let i = 0; i + 1 < points.length; i++) {
    const start = points[i] as number;
    const end = points[i + 1] as number;
    while (
      zi < zero.length &&
      (zero[zi] as ImageioExtent).start + (zero[zi] as ImageioExtent).length <= start
    )
      zi++;
    while (di < dirty.length && (dirty[di] as [number, number])[1] <= start) di++;
    const z = zero[zi];
    const d = dirty[di];
    const isZero = z !== undefined && z.start <= start && z.zero;
    const isDirty = d !== undefined && d[0] <= start;
    const last = out[out.length - 1];
    if (last && last.dirty === isDirty && last.zero === isZero) last.length += end - start;
    else out.push({ start, length: end - start, dirty: isDirty, zero: isZero });
  }
  return out.map((e) => ({ start: e.start, length: e.length, dirty: e.dirty, zero: e.zero, hole: false }));
}

async function handleChecksum(t: Ticket, url: URL, res: ServerResponse): Promise<void> {
  const algorithm = (url.searchParams.get("algorithm") ?? "blake2b") as ChecksumAlgorithm;
  if (!CHECKSUM_ALGORITHMS.includes(algorithm))
    throw new HttpError(400, `Unsupported algorithm: ${algorithm}`);
  const bs = url.searchParams.get("block_size");
  const blockSize = bs === null ? DEFAULT_BLOCK_SIZE : Number(bs);
  if (
    !Number.isInteger(blockSize) ||
    blockSize < 4096 ||
    blockSize > 16 * 1024 * 1024 ||
    blockSize % 4096 !== 0
  )
    throw new HttpError(400, `Invalid block_size: ${bs}`);
  const src = await openSource(t);
  try {
    const size = Math.min(t.spec.size, src.size);
    const h = await BlockHash.create(algorithm, blockSize);
    for (let pos = 0; pos < size; pos += blockSize)
      h.block(await src.read(pos, Math.min(blockSize, size - pos)));
    const body: ImageioChecksumBody = { algorithm, block_size: blockSize, checksum: h.hexdigest() };
    sendJsonBody(res, 200, body);
  } finally {
    await src.close();
  }
}

/**
 * Socket policy of the daemon: a fresh connection idle for 60 s is dropped; after an authorized request the
 * timeout becomes the ticket's inactivity timeout (set per request). No keep-alive timer of Node's own,
 * no overall request deadline (big PUTs may take long).
 */
export function configureImageioServer(server: Server): void {
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
  server.timeout = 60_000;
  server.on("timeout", (socket: Socket) => socket.destroy());
}
