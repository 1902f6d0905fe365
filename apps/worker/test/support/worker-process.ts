import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import type { Stack } from "./stack";

/**
 * A real worker process on the stack, as `lifeboat start` runs it, with a short job lease (4 s), started once it
 * says it is ready. The caller keeps it in `children` to kill in afterAll.
 */
export async function workerProcess(s: Stack, children: ChildProcess[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: path.resolve(import.meta.dirname, "../.."),
    env: s.workerEnv({ LIFEBOAT_JOB_LEASE_SECONDS: "4", LIFEBOAT_ENGINE_CONCURRENCY: "2" }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  child.stderr?.on("data", (d) => {
    output += String(d);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker did not start:\n${output}`)), 60_000);
    child.stdout?.on("data", (d) => {
      output += String(d);
      if (output.includes("[worker] ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`the worker exited (${code}):\n${output}`)));
  });
  return child;
}

/** Resolves once the process has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
  });
}
