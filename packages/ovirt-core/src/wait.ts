/**
 * Deadlines and cancellation for everything that waits: engine state polling, retry backoff, transfers.
 * Every wait takes an absolute deadline (or a timeout turned into one) and an AbortSignal.
 */
export interface WaitOptions {
  /** Absolute deadline, epoch milliseconds. Wins over `timeoutMs`. */
  deadline?: number;
  /** Relative timeout in milliseconds, used when no deadline is given. */
  timeoutMs?: number;
  /** Cancels the wait (and the requests it makes). */
  signal?: AbortSignal;
  /** Poll interval in milliseconds. */
  intervalMs?: number;
}

/** A wait ran past its deadline. Carries what was awaited and the last state seen. */
export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly lastState?: string,
  ) {
    super(`timed out waiting for ${what}${lastState ? ` (last state: ${lastState})` : ""}`);
    this.name = "WaitTimeoutError";
  }
}

/** The operation was cancelled through its AbortSignal. */
export class AbortedError extends Error {
  constructor(reason?: unknown) {
    super(reason instanceof Error ? `aborted: ${reason.message}` : "aborted", { cause: reason });
    this.name = "AbortError";
  }
}

/** Throws an AbortedError when the signal is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError(signal.reason);
}

/** The absolute deadline of a wait (epoch ms); `defaultTimeoutMs` applies when neither form is given. */
export function resolveDeadline(opts: WaitOptions, defaultTimeoutMs: number): number {
  if (opts.deadline !== undefined) return opts.deadline;
  return Date.now() + (opts.timeoutMs ?? defaultTimeoutMs);
}

/** Sleeps `ms`, waking early with an AbortedError when the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError(signal.reason));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** One observation of a poll: finished with a value, or still going with a state to report on timeout. */
export type PollStep<T> = { done: true; value: T } | { done: false; state?: string };

/**
 * Calls `check` every `intervalMs` until it reports done, the deadline passes (WaitTimeoutError) or the
 * signal aborts. `check` throws to fail the wait.
 */
export async function poll<T>(
  what: string,
  check: () => Promise<PollStep<T>>,
  opts: WaitOptions & { defaultTimeoutMs: number; defaultIntervalMs: number },
): Promise<T> {
  const deadline = resolveDeadline(opts, opts.defaultTimeoutMs);
  const interval = opts.intervalMs ?? opts.defaultIntervalMs;
  let lastState: string | undefined;
  for (;;) {
    throwIfAborted(opts.signal);
    const step = await check();
    if (step.done) return step.value;
    lastState = step.state ?? lastState;
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitTimeoutError(what, lastState);
    await sleep(Math.min(interval, left), opts.signal);
  }
}

/** Exponential backoff with jitter: attempt 0 waits about `baseMs`, doubling up to `maxMs`. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(exp / 2 + (Math.random() * exp) / 2);
}
