import { readFileSync } from "node:fs";
import path from "node:path";

/** Wrong arguments: exit code 2. */
export class UsageError extends Error {}

/**
 * What the CLI takes from its environment, read once in main.ts and handed to every command. (Parsing the whole
 * server configuration needs zod: only the commands that run server parts do it, from `vars`.)
 */
export interface CliEnv {
  /** Where the user ran the command: pnpm runs root scripts from the root and keeps the user's folder in INIT_CWD. */
  cwd: string;
  /** LIFEBOAT_DEBUG: print stack traces of failures. */
  debug: boolean;
  /** LIFEBOAT_ENGINE_PASSWORD: the engine password when --password is not given. */
  enginePassword?: string;
  /** LIFEBOAT_REPOSITORY_KEY: the key of an encrypted repository. */
  repositoryKey?: string;
  /** The whole environment, for `serverEnv(vars)` (the launcher, `admin`) and the processes the launcher starts. */
  vars: NodeJS.ProcessEnv;
}

export function readCliEnv(vars: NodeJS.ProcessEnv, cwd: string): CliEnv {
  const set = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v);
  return {
    cwd: vars.INIT_CWD ?? cwd,
    debug: !!set(vars.LIFEBOAT_DEBUG),
    enginePassword: set(vars.LIFEBOAT_ENGINE_PASSWORD),
    repositoryKey: set(vars.LIFEBOAT_REPOSITORY_KEY),
    vars,
  };
}

/** What each command file gets from the program: its environment and the two helpers every command uses. */
export interface CliKit {
  env: CliEnv;
  /** Resolves a path the user typed relative to where they ran the command. */
  path(p: string): string;
  /**
   * Wraps a command's action: one line on stderr and exit 1 for operational failures, exit 2 for usage errors.
   * Commands print their result on stdout and progress on stderr.
   */
  action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void>;
}

export function cliKit(env: CliEnv): CliKit {
  return {
    env,
    path: (p) => path.resolve(env.cwd, p),
    action:
      <A extends unknown[]>(fn: (...args: A) => Promise<void> | void) =>
      async (...args: A) => {
        try {
          await fn(...args);
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          process.stderr.write(`lifeboat: ${message.split("\n")[0]}\n`);
          if (env.debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
          process.exitCode = e instanceof UsageError ? 2 : 1;
        }
      },
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

/** An option taking one of `values`; a usage error names them otherwise. */
export function oneOf<T extends string>(name: string, values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value))
      throw new UsageError(`${name} must be one of ${values.join(", ")}`);
    return value as T;
  };
}

/** The CA certificate of `--cafile` (none without it); usage errors when it is unreadable or with --insecure. */
export function caFileOption(
  kit: CliKit,
  flags: { cafile?: string; insecure?: boolean },
): string | undefined {
  if (flags.cafile && flags.insecure) throw new UsageError("--cafile and --insecure exclude each other");
  if (!flags.cafile) return undefined;
  try {
    return readFileSync(kit.path(flags.cafile), "utf8");
  } catch {
    throw new UsageError(`cannot read --cafile ${flags.cafile}`);
  }
}
