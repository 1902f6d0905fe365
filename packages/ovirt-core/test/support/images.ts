import { execFile } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

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

/**
 * A qcow2 copy of a raw image with 4 KiB clusters, so the simulated daemon's NBD view reports the raw image's
 * data and zero extents exactly (as qemu-nbd reports a raw file's data and holes); `allocatedZero` ranges
 * (zeroes written into the raw file) are written again as allocated zero data, as they are in the raw file.
 */
export async function qcow2Of(
  raw: string,
  out: string,
  allocatedZero: Array<{ offset: number; length: number }> = [],
): Promise<string> {
  await run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", raw, out]);
  for (const z of allocatedZero)
    await run("qemu-io", ["-f", "qcow2", "-c", `write -P 0 ${z.offset} ${z.length}`, out]);
  return out;
}
