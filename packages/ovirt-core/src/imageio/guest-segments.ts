import type { ImageChain } from "@lifeboat/disk-image";
import type { ImageSegment } from "./types";

/** Guest data is read in pieces of this size. */
const PIECE = 4 * 1024 * 1024;

/**
 * The chain's guest data as ordered segments over [from, to): data read in pieces, zero ranges as zero segments
 * (`hole` where no layer has the range, which an upload to an empty disk may skip).
 */
export async function* guestSegments(
  chain: ImageChain,
  from = 0,
  to = chain.virtualSize,
  signal?: AbortSignal,
): AsyncGenerator<ImageSegment> {
  for await (const ext of chain.extents()) {
    const start = Math.max(from, ext.start);
    const end = Math.min(to, ext.start + ext.length);
    if (ext.start >= to) break;
    if (start >= end) continue;
    if (ext.zero) {
      yield { offset: start, length: end - start, zero: true, hole: ext.hole };
      continue;
    }
    for (let pos = start; pos < end; pos += PIECE) {
      signal?.throwIfAborted();
      const n = Math.min(PIECE, end - pos);
      const data = Buffer.allocUnsafe(n);
      await chain.readGuestInto(data, pos, n);
      yield { offset: pos, data };
    }
  }
}
