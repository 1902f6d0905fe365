import type { ImageioExtent } from "@lifeboat/ovirt-protocol";
import { isConnectError } from "../http";
import { AbortedError } from "../wait";
import {
  type ConnectionSettings,
  errorFromResponse,
  ImageioConnection,
  readLimited,
  toImageioError,
  withRetries,
} from "./connection";
import { type DownloadOptions, downloadSegments } from "./download";
import { ImageioError } from "./errors";
import { type FileSinkResult, writeSegmentsToFile } from "./file";
import { openImageFileUpload, type TransferFormat } from "./image-file";
import type {
  ImageioChecksum,
  ImageioOptions,
  ImageioServerOptions,
  ImageioUrls,
  ImageSegment,
} from "./types";
import { type UploadOptions, type UploadResult, uploadSegments } from "./upload";

/** Extents JSON beyond this is refused: a hostile server must not exhaust memory. */
const MAX_EXTENTS_JSON = 64 * 1024 * 1024;

/**
 * An open imageio ticket: the URL that answered, what OPTIONS said, and one control connection (OPTIONS,
 * extents). Data moves over separate worker connections opened by download / upload and closed before they
 * return. Call close() when done — before finalizing the transfer (ref §8.1).
 */
export class ImageioTicket {
  private extentsCache: ImageioExtent[] | undefined;
  private sizeCache: number | undefined;

  private constructor(
    /** The URL in use (transfer_url, or proxy_url after a fallback). */
    readonly url: URL,
    readonly options: ImageioServerOptions,
    readonly usedProxy: boolean,
    private readonly control: ImageioConnection,
    private readonly settings: ConnectionSettings,
    private readonly opts: ImageioOptions,
  ) {}

  /**
   * OPTIONS on `transferUrl`; when nothing answers there (refused, unreachable, DNS, connect timeout — not HTTP
   * errors) the same on `proxyUrl`.
   */
  static async open(urls: ImageioUrls | string, opts: ImageioOptions = {}): Promise<ImageioTicket> {
    const u = typeof urls === "string" ? { transferUrl: urls } : urls;
    const candidates = [u.transferUrl, u.proxyUrl].filter((x): x is string => !!x);
    let lastError: unknown;
    for (let i = 0; i < candidates.length; i++) {
      const url = parseTicketUrl(candidates[i] as string, opts.insecure === true);
      const settings: ConnectionSettings = {
        origin: url.origin,
        tls: { caPem: opts.caPem, insecure: opts.insecure },
        connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
        timeoutMs: opts.timeoutMs ?? 60_000,
      };
      const control = new ImageioConnection(settings);
      try {
        const options = await readOptions(control, url, opts.signal);
        return new ImageioTicket(url, options, i > 0, control, settings, opts);
      } catch (e) {
        await control.close(true);
        if (opts.signal?.aborted) throw new AbortedError(opts.signal.reason);
        if (!isConnectError(e) || i === candidates.length - 1) throw toImageioError(e);
        lastError = e;
        opts.logger?.(
          `imageio: ${url.host} cannot be reached (${toImageioError(e).message}); using the proxy`,
        );
      }
    }
    throw toImageioError(lastError);
  }

  get canRead(): boolean {
    return this.options.legacy || this.options.allow.length === 0 || this.options.allow.includes("GET");
  }

  get canWrite(): boolean {
    return this.options.legacy || this.options.allow.length === 0 || this.options.allow.includes("PUT");
  }

  /**
   * The image's extents (`context=zero` by default). Without the extents feature: one data extent over the
   * whole image. Cached per context "zero".
   */
  async extents(context: "zero" | "dirty" = "zero"): Promise<ImageioExtent[]> {
    if (context === "zero" && this.extentsCache) return this.extentsCache;
    if (!this.options.features.includes("extents")) {
      if (context === "dirty")
        throw new ImageioError({ status: 0, message: "the server has no extents feature" });
      const size = await this.size();
      this.extentsCache = size > 0 ? [{ start: 0, length: size, zero: false, hole: false }] : [];
      return this.extentsCache;
    }
    const signal = this.opts.signal ?? new AbortController().signal;
    const path = `${this.url.pathname}/extents?context=${context}`;
    const extents = await withRetries(
      this.control,
      async (c) => {
        // imageio computes extents of the whole image in one go: minutes on multi-TiB disks (ref §5.6, §8.3).
        const wait = this.opts.extentsTimeoutMs ?? 30 * 60_000;
        const res = await c.request({ path, method: "GET", signal, headersTimeout: wait, bodyTimeout: wait });
        if (res.statusCode !== 200) throw await errorFromResponse(res, `GET extents?context=${context}`);
        const text = await readLimited(res.body, MAX_EXTENTS_JSON + 1);
        if (text.length > MAX_EXTENTS_JSON)
          throw new ImageioError({ status: 200, message: "extents answer is too large" });
        return parseExtents(text, context);
      },
      signal,
      this.retryPolicy(),
    );
    if (context === "zero") {
      this.extentsCache = extents;
      const last = extents[extents.length - 1];
      this.sizeCache = last ? last.start + last.length : 0;
    }
    return extents;
  }

  /** The image size: the end of the last extent, or a GET's Content-Length on servers without extents. */
  async size(): Promise<number> {
    if (this.sizeCache !== undefined) return this.sizeCache;
    if (this.options.features.includes("extents")) {
      await this.extents();
      return this.sizeCache ?? 0;
    }
    const signal = this.opts.signal ?? new AbortController().signal;
    const size = await withRetries(
      this.control,
      async (c) => {
        const res = await c.request({ path: this.url.pathname, method: "GET", signal });
        if (res.statusCode !== 200 && res.statusCode !== 206) throw await errorFromResponse(res, "GET");
        const length = Number(res.headers["content-length"]);
        // Only the length is wanted: drop the body and, with it, this socket.
        res.body.destroy();
        await this.control.renew();
        if (!Number.isSafeInteger(length) || length < 0)
          throw new ImageioError({ status: res.statusCode, message: "GET answer has no Content-Length" });
        return length;
      },
      signal,
      this.retryPolicy(),
    );
    this.sizeCache = size;
    return size;
  }

  /**
   * The ticket's size, the most bytes it takes (ref §5.11: for a cow volume's upload more than the file holds
   * yet). Asked by a read past any size (imageio answers 416 with a Content-Range naming the ticket size); a
   * server that does not say gets the image's size.
   */
  async ticketSize(): Promise<number> {
    const signal = this.opts.signal ?? new AbortController().signal;
    const probe = Number.MAX_SAFE_INTEGER - 1;
    const said = await withRetries(
      this.control,
      async (c) => {
        const res = await c.request({
          path: this.url.pathname,
          method: "GET",
          headers: { range: `bytes=${probe}-${probe}` },
          signal,
        });
        // A 416 carries one short line; anything else (a server ignoring Range) is not read.
        if (res.statusCode === 416) await readLimited(res.body, 4096);
        else {
          res.body.on("error", () => undefined).destroy();
          await this.control.renew();
        }
        const m = /^bytes \*\/(\d+)$/.exec(String(res.headers["content-range"] ?? ""));
        const size = res.statusCode === 416 && m ? Number(m[1]) : undefined;
        return size !== undefined && Number.isSafeInteger(size) ? size : undefined;
      },
      signal,
      this.retryPolicy(),
    );
    return said ?? (await this.size());
  }

  /**
   * Uploads a local image file (see `openImageFileUpload`): sizes checked against the ticket before the first
   * byte, a qcow2 source sent as guest data to a `raw` ticket.
   */
  async uploadImageFile(
    file: string,
    opts: UploadOptions & { transferFormat?: TransferFormat; format?: "raw" | "qcow2" } = {},
  ): Promise<UploadResult & { format: "raw" | "qcow2" }> {
    if (!this.canWrite) throw new ImageioError({ status: 0, message: "the ticket does not allow writing" });
    const { transferFormat, format, ...upload } = opts;
    const image = await openImageFileUpload(file, {
      ticketSize: await this.ticketSize(),
      transferFormat,
      format,
      signal: upload.signal ?? this.opts.signal,
    });
    try {
      const res = await this.upload(image.source, {
        total: image.size,
        zeroHoles: image.zeroHoles,
        ...upload,
      });
      return { ...res, format: image.format };
    } finally {
      await image.close();
    }
  }

  /**
   * The daemon's block checksum of the whole image (`GET <url>/checksum`, ref §5.7): comparable with an earlier
   * answer for the same image, not with a plain hash of the bytes. Needs the checksum feature.
   */
  async checksum(opts: { algorithm?: string; blockSize?: number } = {}): Promise<ImageioChecksum> {
    if (!this.options.features.includes("checksum"))
      throw new ImageioError({ status: 0, message: "the server has no checksum feature" });
    const query = new URLSearchParams();
    if (opts.algorithm !== undefined) query.set("algorithm", opts.algorithm);
    if (opts.blockSize !== undefined) query.set("block_size", String(opts.blockSize));
    const qs = query.size > 0 ? `?${query}` : "";
    const signal = this.opts.signal ?? new AbortController().signal;
    return withRetries(
      this.control,
      async (c) => {
        // The daemon reads the whole image before it answers, like extents.
        const wait = this.opts.extentsTimeoutMs ?? 30 * 60_000;
        const res = await c.request({
          path: `${this.url.pathname}/checksum${qs}`,
          method: "GET",
          signal,
          headersTimeout: wait,
          bodyTimeout: wait,
        });
        if (res.statusCode !== 200) throw await errorFromResponse(res, "GET checksum");
        return parseChecksum(await readLimited(res.body, 64 * 1024));
      },
      signal,
      this.retryPolicy(),
    );
  }

  /**
   * Streams the image as ordered segments: data read over several connections, zero runs as ZeroSegments.
   * With `context: "dirty"` (an incremental backup's disk) only what changed since the checkpoint: the gaps
   * between segments are unchanged. Data connections open only once the extents have arrived (the daemon
   * drops idle connections while it computes them, ref §8.3). Memory stays near (workers + 2) × bufferSize
   * whatever the consumer does. The worker connections are closed when the iteration ends (also on break or
   * error).
   */
  download(opts: DownloadOptions = {}): AsyncGenerator<ImageSegment, void, undefined> {
    if (!this.canRead) throw new ImageioError({ status: 0, message: "the ticket does not allow reading" });
    return downloadSegments(
      {
        url: this.url,
        settings: this.settings,
        options: this.options,
        extents: () => this.extents(opts.context ?? "zero"),
        size: () => this.size(),
      },
      { ...this.opts, ...opts },
    );
  }

  /** Downloads into a fresh local file (holes for zero runs; with `sparse`, for zero blocks of data too). */
  async downloadToFile(
    file: string,
    opts: DownloadOptions & { sparse?: boolean } = {},
  ): Promise<FileSinkResult> {
    const size = await this.size();
    return writeSegmentsToFile(this.download(opts), file, size, { sparse: opts.sparse });
  }

  /**
   * Writes segments (or a file's bytes, zero runs detected) to the ticket: PUT with Content-Range, PATCH zero,
   * a final PATCH flush per connection. Resolves after every worker connection is closed.
   */
  async upload(
    source: string | AsyncIterable<ImageSegment>,
    opts: UploadOptions = {},
  ): Promise<UploadResult> {
    if (!this.canWrite) throw new ImageioError({ status: 0, message: "the ticket does not allow writing" });
    return uploadSegments({ url: this.url, settings: this.settings, options: this.options }, source, {
      ...this.opts,
      ...opts,
    });
  }

  /** Closes the control connection. */
  async close(): Promise<void> {
    await this.control.close();
  }

  private retryPolicy() {
    return {
      retries: this.opts.retries ?? 3,
      delayMs: this.opts.retryDelayMs ?? 200,
      logger: this.opts.logger,
    };
  }
}

/** Opens a ticket (same as ImageioTicket.open). */
export async function openImageio(
  urls: ImageioUrls | string,
  opts: ImageioOptions = {},
): Promise<ImageioTicket> {
  return ImageioTicket.open(urls, opts);
}

/** A ticket URL; plain http only with `insecure` (the ticket URL is the transfer's only credential). */
function parseTicketUrl(s: string, insecure: boolean): URL {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new ImageioError({ status: 0, message: "not a valid ticket URL" });
  }
  if (url.protocol !== "https:" && !(insecure && url.protocol === "http:"))
    throw new ImageioError({ status: 0, message: `unsupported URL scheme ${url.protocol} (https expected)` });
  url.pathname = url.pathname.replace(/\/+$/, "");
  url.search = "";
  url.hash = "";
  return url;
}

async function readOptions(
  conn: ImageioConnection,
  url: URL,
  signal: AbortSignal | undefined,
): Promise<ImageioServerOptions> {
  const res = await conn.request({
    path: url.pathname,
    method: "OPTIONS",
    signal: signal ?? null,
  });
  const allow = String(res.headers.allow ?? "")
    .split(",")
    .map((m) => m.trim().toUpperCase())
    .filter((m) => m !== "");
  if (res.statusCode === 405 || res.statusCode === 204) {
    await res.body.dump();
    // Old daemon (405) or old proxy (204): no features, one connection (ref §5.2).
    return { features: [], maxReaders: 1, maxWriters: 1, allow, legacy: true };
  }
  if (res.statusCode !== 200) throw await errorFromResponse(res, "OPTIONS");
  const text = await readLimited(res.body, 64 * 1024);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ImageioError({ status: 200, message: "OPTIONS answer is not JSON" });
  }
  const o = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
  const features = Array.isArray(o.features)
    ? o.features.filter((f): f is string => typeof f === "string")
    : [];
  return {
    features,
    maxReaders: positiveInt(o.max_readers) ?? 1,
    maxWriters: positiveInt(o.max_writers) ?? 1,
    allow,
    unixSocket: typeof o.unix_socket === "string" ? o.unix_socket : undefined,
    legacy: false,
  };
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/** Validates a checksum answer: `{"algorithm": ..., "block_size": ..., "checksum": "<hex>"}`. */
function parseChecksum(text: string): ImageioChecksum {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ImageioError({ status: 200, message: "checksum answer is not JSON" });
  }
  const o = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
  if (
    typeof o.algorithm !== "string" ||
    typeof o.checksum !== "string" ||
    !/^[0-9a-f]+$/i.test(o.checksum) ||
    positiveInt(o.block_size) === undefined
  )
    throw new ImageioError({ status: 200, message: "checksum answer is malformed" });
  return { algorithm: o.algorithm, blockSize: o.block_size as number, checksum: o.checksum.toLowerCase() };
}

/** Validates extents: a list of `{start, length, zero, hole}` that are sorted and contiguous from 0. */
export function parseExtents(text: string, context: string): ImageioExtent[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ImageioError({ status: 200, message: `extents (${context}) answer is not JSON` });
  }
  if (!Array.isArray(json)) throw new ImageioError({ status: 200, message: "extents answer is not a list" });
  const out: ImageioExtent[] = [];
  let next = 0;
  for (const [i, raw] of json.entries()) {
    const e = (raw && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
    const { start, length } = e;
    if (
      typeof start !== "number" ||
      typeof length !== "number" ||
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(length) ||
      length < 0 ||
      !Number.isSafeInteger(start + length)
    )
      throw new ImageioError({ status: 200, message: `extent ${i} is malformed` });
    if (start !== next)
      throw new ImageioError({ status: 200, message: `extent ${i} starts at ${start}, expected ${next}` });
    next = start + length;
    if (length === 0) continue;
    out.push({
      start,
      length,
      zero: e.zero === true,
      hole: e.hole === true,
      dirty: typeof e.dirty === "boolean" ? e.dirty : undefined,
    });
  }
  return out;
}
