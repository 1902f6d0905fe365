import { type ChildProcess, spawn } from "node:child_process";
import type { SupervisedRun } from "./supervisor";

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number>;
  /** Resolves with how it ended, in words: "exit code 1", "signal SIGKILL". */
  ended: Promise<string>;
  stop(): Promise<void>;
}

/**
 * Spawns a child in its own process group (so `next start` and its workers stop together) and prefixes its
 * output lines with its name.
 */
export function spawnManaged(
  name: string,
  command: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; quiet?: boolean },
): ManagedProcess {
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const prefix = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
    if (opts.quiet) return;
    for (const line of chunk.toString().split("\n")) if (line.trim()) stream.write(`[${name}] ${line}\n`);
  };
  child.stdout?.on("data", prefix(process.stdout));
  child.stderr?.on("data", prefix(process.stderr));
  const ended = new Promise<string>((resolve) =>
    child.on("exit", (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`)),
  );
  const exited = new Promise<number>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1))),
  );
  return {
    name,
    child,
    exited,
    ended,
    async stop() {
      if (child.exitCode !== null || child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        return;
      }
      const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000).unref());
      if ((await Promise.race([exited, timeout])) === "timeout") {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
        await exited;
      }
    },
  };
}

/** Waits until `url` answers 2xx, the process dies, or the deadline passes. */
export async function waitForHttp(url: string, proc: ManagedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void proc.exited.then(() => {
    dead = true;
  });
  while (Date.now() < deadline) {
    if (dead) throw new Error(`${proc.name} exited before it was ready`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${proc.name} did not answer ${url} within ${Math.round(timeoutMs / 1000)} s`);
}

/** A managed process as its supervisor sees it. */
export function supervisedRun(proc: ManagedProcess): SupervisedRun {
  return { exited: proc.ended, stop: () => proc.stop() };
}
