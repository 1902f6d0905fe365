/**
 * The ovirt-imageio daemon's JSON (reference/ovirt-protocol.md §5): the control API's ticket and the data
 * API's OPTIONS, extents and checksum answers.
 */

/** What `OPTIONS /images/<ticket>` may list in `features`. */
export type ImageioFeature = "checksum" | "extents" | "flush" | "zero";

/** The answer of `OPTIONS /images/<ticket>` (ref §5.2). */
export interface ImageioOptionsBody {
  features: ImageioFeature[];
  max_readers?: number;
  max_writers?: number;
  unix_socket?: string;
}

/** One extent of `GET /images/<ticket>/extents` (ref §5.6). Offsets are numbers: safe up to 8 PiB. */
export interface ImageioExtent {
  start: number;
  length: number;
  /** Reads as zeroes. */
  zero: boolean;
  /** Unallocated in the exported image (data would come from a backing file). */
  hole: boolean;
  /** Only in `context=dirty`. */
  dirty?: boolean;
}

/** The answer of `GET /images/<ticket>/checksum` (ref §5.7). */
export interface ImageioChecksumBody {
  algorithm: string;
  block_size: number;
  /** Hex. */
  checksum: string;
}

/** The ticket of the daemon's control API (`PUT /tickets/<id>`), as the engine installs it. */
export interface ImageioTicketSpec {
  uuid: string;
  size: number;
  ops: Array<"read" | "write">;
  timeout: number;
  url: string;
  inactivity_timeout: number;
  transfer_id?: string;
  filename?: string;
  sparse: boolean;
  dirty: boolean;
}
