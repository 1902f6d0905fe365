import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A mounted filesystem for tests; `unmount` also removes its mount point. */
export interface SmallFilesystem {
  dir: string;
  unmount(): Promise<void>;
}

/**
 * A real filesystem of `bytes` (tmpfs), so a write past it fails with the kernel's own ENOSPC — the full
 * disk that tests of "a full repository" need. Mounting needs root, as the CI and these machines run tests.
 */
export async function mountSmallFilesystem(bytes: number): Promise<SmallFilesystem> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "lifeboat-full-"));
  await run("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir]);
  return {
    dir,
    async unmount() {
      await run("umount", [dir]);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
