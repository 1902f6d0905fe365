import { randomFillSync } from "node:crypto";
import { open, readFile } from "node:fs/promises";

/**
 * Writes a sparse raw image: holes everywhere except the given regions, filled with random bytes (or with
 * `fill`, e.g. 0xa5 garbage a zeroing client must overwrite).
 */
export async function makeSparseImage(
  file: string,
  size: number,
  regions: Array<{ offset: number; length: number; fill?: number }>,
): Promise<void> {
  const fh = await open(file, "w");
  try {
    await fh.truncate(size);
    for (const r of regions) {
      const chunk = 1024 * 1024;
      for (let pos = 0; pos < r.length; pos += chunk) {
        const buf = Buffer.allocUnsafe(Math.min(chunk, r.length - pos));
        if (r.fill === undefined) randomFillSync(buf);
        else buf.fill(r.fill);
        await fh.write(buf, 0, buf.length, r.offset + pos);
      }
    }
  } finally {
    await fh.close();
  }
}

export async function sameBytes(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  return x.equals(y);
}
