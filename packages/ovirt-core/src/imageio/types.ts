import type { TlsOptions } from "../http";

/** What OPTIONS said about a ticket (ref §5.2). */
export interface ImageioServerOptions {
  /** `checksum`, `extents`, `flush`, `zero` — empty for old servers (405/204). */
  features: string[];
  /** Concurrent readers allowed; 1 when the server does not say. */
  maxReaders: number;
  /** Concurrent writers allowed; 1 when the server does not say (the file backend on a regular file says 1). */
  maxWriters: number;
  /** Methods from the `Allow` header. */
  allow: string[];
  unixSocket?: string;
  /** The server predates OPTIONS (405) or answered 204: plain GET/PUT, one connection. */
  legacy: boolean;
}

/** `GET /checksum` (ref §5.7): imageio's block-based hash of the whole image. */
export interface ImageioChecksum {
  algorithm: string;
  blockSize: number;
  /** Lowercase hex. */
  checksum: string;
}

/** Guest data at an offset. */
export interface DataSegment {
  offset: number;
  data: Buffer;
  zero?: false;
}

/** A run that reads as zeroes; `hole` when unallocated in the exported layer. */
export interface ZeroSegment {
  offset: number;
  length: number;
  zero: true;
  hole?: boolean;
}

/** What download yields (in offset order) and upload consumes. */
export type ImageSegment = DataSegment | ZeroSegment;

export interface TransferProgress {
  /** Bytes of the image handled so far (data transferred + zero runs skipped or zeroed). */
  done: number;
  /** Bytes to handle; undefined when unknown (an upload from an iterable without `total`). */
  total?: number;
  /** Data bytes that crossed the network. */
  dataBytes: number;
  /** `done` per second since the start. */
  rate: number;
}

export interface ImageioOptions extends TlsOptions {
  /** Connections for data (default 4), capped by the server's max_readers / max_writers. */
  workers?: number;
  /** Bytes per ranged request; also the unit of memory per worker. Default 4 MiB. */
  bufferSize?: number;
  /** Extra attempts for a range that fails mid-way. Default 3. */
  retries?: number;
  /** First retry delay, doubling. Default 200 ms. */
  retryDelayMs?: number;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** Max silence while waiting for headers or body data. Default 60 s. */
  timeoutMs?: number;
  /** Max wait for the extents answer (computed for the whole image at once). Default 30 min. */
  extentsTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
  /** One line per retry or fallback. */
  logger?: (line: string) => void;
}

/** A ticket's URLs: the host daemon's, and the engine proxy's to fall back to when the host cannot be reached. */
export interface ImageioUrls {
  transferUrl: string;
  proxyUrl?: string;
}

export const DEFAULT_WORKERS = 4;
export const DEFAULT_BUFFER_SIZE = 4 * 1024 * 1024;
