/**
 * Keeps one child of `lifeboat start` (the embedded PostgreSQL, the worker, the web server) running: when it
 * exits on its own it is started again after a back-off delay, and each step is reported. A child that keeps
 * dying — `maxRestarts` exits within `windowMs` — is given up on: looping forever would only hide the fault,
 * so the launcher stops and says why.
 */

/** One running instance of a supervised child. */
export interface SupervisedRun {
  /** Resolves once the instance has ended, with how it ended in words ("exit code 1", "signal SIGKILL"). */
  exited: Promise<string>;
  stop(): Promise<void>;
}

export type SupervisorEvent =
  | { kind: "started"; name: string; restarts: number }
  | { kind: "exited"; name: string; reason: string; restartInMs: number; restarts: number }
  | { kind: "restart-failed"; name: string; error: string; restartInMs: number; restarts: number }
  | { kind: "gave-up"; name: string; reason: string; restarts: number; windowMs: number };

export interface SupervisorOptions {
  name: string;
  start(): Promise<SupervisedRun>;
  onEvent(e: SupervisorEvent): void;
  /** Delays before each restart, the last one repeated (default 1 s doubling to 30 s). */
  backoffMs?: number[];
  /** Exits tolerated within windowMs before giving up (default 5 in 10 minutes). */
  maxRestarts?: number;
  windowMs?: number;
  /** A run that lasted this long counts as healthy: the back-off starts over (default 60 s). */
  stableMs?: number;
  now?: () => number;
}

export interface Supervisor {
  /** Resolves when the supervisor gave up (the child kept dying), with the last reason; never on stop(). */
  gaveUp: Promise<string>;
  stop(): Promise<void>;
}

const DEFAULT_BACKOFF = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000];

/** Supervises a child whose first run the caller already started (and waited to be ready). */
export function supervise(first: SupervisedRun, opts: SupervisorOptions): Supervisor {
  const backoff = opts.backoffMs ?? DEFAULT_BACKOFF;
  const maxRestarts = opts.maxRestarts ?? 5;
  const windowMs = opts.windowMs ?? 10 * 60_000;
  const stableMs = opts.stableMs ?? 60_000;
  const now = opts.now ?? Date.now;

  let current: SupervisedRun | undefined = first;
  let stopping = false;
  let restarts = 0;
  let failuresInRow = 0;
  const exits: number[] = [];
  let wake: (() => void) | undefined;
  let resolveGaveUp!: (reason: string) => void;
  const gaveUp = new Promise<string>((r) => {
    resolveGaveUp = r;
  });

  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      wake = () => {
        clearTimeout(t);
        r();
      };
    });

  const loop = (async () => {
    let run = first;
    let startedAt = now();
    for (;;) {
      const reason = await run.exited;
      current = undefined;
      if (stopping) return;
      const at = now();
      if (at - startedAt >= stableMs) failuresInRow = 0;
      exits.push(at);
      while (exits.length > 0 && (exits[0] ?? 0) < at - windowMs) exits.shift();
      if (exits.length > maxRestarts) {
        opts.onEvent({ kind: "gave-up", name: opts.name, reason, restarts, windowMs });
        resolveGaveUp(reason);
        return;
      }
      const delayNow = () => backoff[Math.min(failuresInRow++, backoff.length - 1)] ?? 1_000;
      let delay = delayNow();
      opts.onEvent({ kind: "exited", name: opts.name, reason, restartInMs: delay, restarts });
      for (;;) {
        await sleep(delay);
        if (stopping) return;
        try {
          run = await opts.start();
          break;
        } catch (e) {
          const error = e instanceof Error ? e.message : String(e);
          exits.push(now());
          if (exits.length > maxRestarts) {
            opts.onEvent({ kind: "gave-up", name: opts.name, reason: error, restarts, windowMs });
            resolveGaveUp(error);
            return;
          }
          delay = delayNow();
          opts.onEvent({ kind: "restart-failed", name: opts.name, error, restartInMs: delay, restarts });
        }
      }
      if (stopping) {
        await run.stop();
        return;
      }
      restarts++;
      current = run;
      startedAt = now();
      opts.onEvent({ kind: "started", name: opts.name, restarts });
    }
  })();

  return {
    gaveUp,
    async stop() {
      stopping = true;
      wake?.();
      await current?.stop();
      await loop;
    },
  };
}
