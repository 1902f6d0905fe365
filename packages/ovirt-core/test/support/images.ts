import { randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

/** A temp folder for one test file. */
export function tempDir(
  prefix = "lifeboat-imageio-",
  base = tmpdir(),
): {
  dir: string;
  file: (name: string) => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(path.join(base, prefix));
  return {
    dir,
    file: (name) => path.join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Writes a sparse raw image: holes everywhere except the given regions, filled with random bytes (or written
 * zeroes with `fill: 0`, i.e. allocated zero blocks).
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

/** A file of `size` bytes holding garbage everywhere (to prove zeroing really zeroes). */
export async function makeGarbageFile(file: string, size: number): Promise<void> {
  await makeSparseImage(file, size, [{ offset: 0, length: size, fill: 0xa5 }]);
}

export async function makeEmptyFile(file: string, size: number): Promise<void> {
  await makeSparseImage(file, size, []);
}

export async function sameBytes(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  return x.equals(y);
}
