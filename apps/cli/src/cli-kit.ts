import path from "node:path";

/** Wrong arguments: exit code 2. */
export class UsageError extends Error {}

/** Resolves a path the user typed relative to where they ran `pnpm lifeboat` (pnpm runs root scripts from the root). */
export function userPath(p: string): string {
  return path.resolve(process.env.INIT_CWD ?? process.cwd(), p);
}

/**
 * Wraps a command's action: one line on stderr and exit 1 for operational failures, exit 2 for usage errors.
 * Commands print their result on stdout and progress on stderr.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      process.stderr.write(`lifeboat: ${message.split("\n")[0]}\n`);
      if (process.env.LIFEBOAT_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
      process.exitCode = e instanceof UsageError ? 2 : 1;
    }
  };
}

/** Parses a positive integer option or throws a UsageError naming it. */
export function intOption(name: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}
