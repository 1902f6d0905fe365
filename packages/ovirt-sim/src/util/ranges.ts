import type { Ranges } from "../model";

/** Granularity of the simulated dirty bitmaps: qemu's default for qcow2 bitmaps (the cluster size). */
export const BITMAP_GRANULARITY = 64 * 1024;

/** Adds [start, end) widened to the granularity, keeping the list sorted and merged. */
export function addRange(ranges: Ranges, start: number, end: number, size: number): void {
  const g = BITMAP_GRANULARITY;
  let s = Math.floor(start / g) * g;
  let e = Math.min(size, Math.ceil(end / g) * g);
  if (e <= s) return;
  const out: Ranges = [];
  let placed = false;
  for (const [a, b] of ranges) {
    if (b < s) out.push([a, b]);
    else if (a > e) {
      if (!placed) {
        out.push([s, e]);
        placed = true;
      }
      out.push([a, b]);
    } else {
      s = Math.min(s, a);
      e = Math.max(e, b);
    }
  }
  if (!placed) out.push([s, e]);
  ranges.splice(0, ranges.length, ...out);
}

/** Total bytes in the ranges. */
export function rangesBytes(ranges: Ranges): number {
  return ranges.reduce((n, [a, b]) => n + (b - a), 0);
}
