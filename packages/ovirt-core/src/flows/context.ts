import { EngineError, EngineStateError } from "../engine";
import { AbortedError, backoffDelay, sleep } from "../wait";
import {
  type EngineObjectRecord,
  type FlowDeadlines,
  FlowError,
  type FlowEvent,
  type FlowHooks,
  type Leftover,
} from "./types";

const MIN = 60_000;

const DEFAULT_DEADLINES: Required<FlowDeadlines> = {
  ovfMs: 10 * MIN,
  snapshotMs: 30 * MIN,
  backupMs: 30 * MIN,
  snapshotRemoveMs: 120 * MIN,
  transferStartMs: 5 * MIN,
  transferFinishMs: 30 * MIN,
  diskMs: 30 * MIN,
  cleanupMs: 10 * MIN,
  conflictRetryMs: 2000,
};

/** Progress over a whole flow: bytes done of a total that may be corrected as exact sizes become known. */
export class ProgressTracker {
  private started = performance.now();
  private phase = "";
  private total = 0;
  private done = 0;

  constructor(private readonly report: FlowHooks["onProgress"]) {}

  /** Starts a phase: the rate is measured from here. */
  begin(phase: string, total: number): void {
    this.phase = phase;
    this.total = total;
    this.done = 0;
    this.started = performance.now();
    this.emit();
  }

  /** Replaces an estimate by the exact figure (e.g. a layer's size once its transfer is open). */
  adjustTotal(delta: number): void {
    this.total = Math.max(this.done, this.total + delta);
    this.emit();
  }

  add(bytes: number): void {
    this.done += bytes;
    if (this.done > this.total) this.total = this.done;
    this.emit();
  }

  get bytesDone(): number {
    return this.done;
  }

  private emit(): void {
    if (!this.report) return;
    const seconds = (performance.now() - this.started) / 1000;
    this.report({
      phase: this.phase,
      bytesDone: this.done,
      bytesTotal: this.total,
      rate: seconds > 0 ? this.done / seconds : 0,
    });
  }
}

/** The engine's own words for an error (fault reason and detail), if it came from the engine. */
export function engineWords(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    if (cur instanceof EngineError) {
      const words = [cur.reason, cur.detail].filter((x): x is string => !!x).join(": ");
      return words || cur.message;
    }
    if (cur instanceof EngineStateError) return cur.message;
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return undefined;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function isNotFound(e: unknown): boolean {
  return e instanceof EngineError && e.isNotFound;
}

/**
 * What every flow shares: its hooks, deadlines, the journal of engine objects and the leftovers of cleanups.
 * Cleanup steps run without the flow's AbortSignal (an aborted flow must still clean up) but within their
 * own deadline.
 */
export class FlowContext {
  readonly deadlines: Required<FlowDeadlines>;
  readonly progress: ProgressTracker;
  readonly leftovers: Leftover[] = [];
  /** The step running now, named in errors. */
  step = "start";

  constructor(
    readonly hooks: FlowHooks,
    deadlines: FlowDeadlines | undefined,
  ) {
    this.deadlines = { ...DEFAULT_DEADLINES, ...deadlines };
    this.progress = new ProgressTracker(hooks.onProgress);
  }

  get signal(): AbortSignal | undefined {
    return this.hooks.signal;
  }

  /** An absolute deadline `ms` from now. */
  deadline(ms: number): number {
    return Date.now() + ms;
  }

  /** The wait options of a flow step (aborts with the flow). */
  wait(ms: number): { deadline: number; signal?: AbortSignal } {
    return { deadline: this.deadline(ms), signal: this.signal };
  }

  /** The wait options of a cleanup step (not aborted with the flow). */
  cleanupWait(): { deadline: number } {
    return { deadline: this.deadline(this.deadlines.cleanupMs) };
  }

  throwIfAborted(): void {
    if (this.signal?.aborted) throw new AbortedError(this.signal.reason);
  }

  event(level: FlowEvent["level"], step: string, message: string, details?: Record<string, unknown>): void {
    try {
      this.hooks.onEvent?.({ level, step, message, ...(details ? { details } : {}) });
    } catch {
      // A broken listener must not break the flow.
    }
  }

  /** Journals an engine object; awaited before the flow goes on (the worker persists it). */
  async record(o: EngineObjectRecord): Promise<void> {
    await this.hooks.onEngineObject?.(o);
  }

  leftover(l: Leftover): void {
    this.leftovers.push(l);
    this.event("error", "cleanup", `left behind ${l.kind} ${l.id}: ${l.description} (${l.error})`, {
      kind: l.kind,
      id: l.id,
      ...(l.vmId ? { vmId: l.vmId } : {}),
    });
  }

  /** The FlowError for a failure of the current step, with the engine's words and the leftovers so far. */
  fail(e: unknown): FlowError {
    if (e instanceof FlowError) {
      return new FlowError({
        message: e.message,
        step: e.step,
        leftovers: [...e.leftovers, ...this.leftovers.filter((l) => !e.leftovers.includes(l))],
        engineMessage: e.engineMessage,
        aborted: e.aborted,
        cause: e.cause,
      });
    }
    const aborted = this.signal?.aborted === true;
    const words = engineWords(e);
    const message = aborted
      ? `${this.step}: cancelled`
      : `${this.step}: ${words && !errorText(e).includes(words) ? `${words} (${errorText(e)})` : errorText(e)}`;
    return new FlowError({
      message,
      step: this.step,
      leftovers: [...this.leftovers],
      engineMessage: words,
      aborted,
      cause: e,
    });
  }

  /**
   * Repeats an engine call that the engine refuses with 409 (an operation still holds the entity) or a 5xx, with
   * backoff, until `deadline`. Other errors end it at once.
   */
  async retryBusy<T>(what: string, deadline: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const busy = e instanceof EngineError && (e.status === 409 || e.status >= 500);
        const delay = backoffDelay(attempt, this.deadlines.conflictRetryMs, 30_000);
        if (!busy || Date.now() + delay > deadline) throw e;
        this.event("warn", this.step, `${what}: ${engineWords(e) ?? errorText(e)}; retrying in ${delay} ms`);
        await sleep(delay, signal);
      }
    }
  }
}
