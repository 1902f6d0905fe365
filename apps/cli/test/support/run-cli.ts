import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
export const repoRoot = path.resolve(import.meta.dirname, "../../../..");
/** The built CLI (`bin.lifeboat` of apps/cli): the tests run what users run. */
export const lifeboatBin = path.join(repoRoot, "apps/cli/dist/lifeboat.mjs");

/** Runs the real CLI as `pnpm lifeboat` does; resolves with its exit code and output. */
export async function lifeboat(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [lifeboatBin, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === "number" ? err.code : 1,
      stdout: err.stdout ?? "",
      stderr: err.stderr ?? "",
    };
  }
}
