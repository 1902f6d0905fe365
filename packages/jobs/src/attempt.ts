import type { Db, Job, Prisma } from "@lifeboat/db";
import type { EngineObjectRecord, FlowEvent, FlowHooks, FlowProgress, Leftover } from "@lifeboat/ovirt-core";
import { journalEngineObject } from "./journal";
import { heartbeat } from "./lease";
import { ProgressMeter } from "./progress";

/** Why a running job's signal was aborted. */
export type AbortCause = "cancelled" | "lease-lost" | "stopping";

/** The reason an aborted job's signal carries. */
export class JobAbort extends Error {
  constructor(
    readonly why: AbortCause,
    message: string,
  ) {
    super(message);
    this.name = "JobAbort";
  }
}

/**
 * One attempt of a durable job on this worker: its heartbeat, its progress (written at most once per heartbeat),
 * its event log and the journal of engine objects, and its AbortSignal. Every heartbeat is fenced by the attempt
 * number: when another worker took the job over (attempts moved on), this attempt's signal aborts with
 * "lease-lost" and nothing it writes to the job row lands.
 */
export class JobRun {
  private readonly ac = new AbortController();
  private cause: AbortCause | null = null;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private writes: Promise<void> = Promise.resolve();
  private readonly meter: ProgressMeter;
  private readonly onParentAbort = () => this.abort("stopping", "the worker is stopping");

  constructor(
    readonly db: Db,
    /** The row as this attempt claimed it (attempts = this attempt's number). */
    readonly job: Job,
    private readonly heartbeatMs: number,
    private readonly parentSignal?: AbortSignal,
  ) {
    this.meter = new ProgressMeter(job.phase);
  }

  get jobId(): string {
    return this.job.id;
  }
  get attempt(): number {
    return this.job.attempts;
  }
  get signal(): AbortSignal {
    return this.ac.signal;
  }
  /** Why the signal aborted, or null. */
  get abortCause(): AbortCause | null {
    return this.cause;
  }

  start(): void {
    if (this.job.cancelRequested) this.abort("cancelled", "cancelled on request");
    if (this.parentSignal?.aborted) this.onParentAbort();
    this.parentSignal?.addEventListener("abort", this.onParentAbort, { once: true });
    this.timer = setInterval(() => void this.tick(), this.heartbeatMs);
  }

  /** Stops the heartbeat and waits for every event write. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.parentSignal?.removeEventListener("abort", this.onParentAbort);
    await this.writes;
  }

  abort(why: AbortCause, message: string): void {
    if (this.cause) return;
    this.cause = why;
    this.ac.abort(new JobAbort(why, message));
  }

  /** The step in an operator's words (written with the next heartbeat). */
  setPhase(phase: string): void {
    this.meter.setPhase(phase);
  }

  progress(p: FlowProgress): void {
    this.meter.update(p);
  }

  /** Appends a line to the job's event log (written in order, in the background). */
  event(level: FlowEvent["level"], step: string, message: string, details?: Record<string, unknown>): void {
    this.enqueue(async () => {
      await this.db.jobEvent.create({
        data: {
          jobId: this.jobId,
          level,
          step: step.slice(0, 200),
          message: message.slice(0, 4000),
          details: (details ?? undefined) as Prisma.InputJsonValue | undefined,
        },
      });
    });
  }

  /**
   * Journals an engine object before the flow goes on: durable once this resolves. Throws when another worker
   * took the job over, so that this attempt creates nothing more.
   */
  async engineObject(r: EngineObjectRecord): Promise<void> {
    // After the events before it, so that the log reads in order; its own failure is the flow's failure.
    const write = this.writes.then(() => journalEngineObject(this.db, this.jobId, this.attempt, r));
    this.writes = write.then(
      () => undefined,
      () => undefined,
    );
    if (!(await write)) {
      this.abort("lease-lost", "another worker took this job over");
      throw new JobAbort("lease-lost", `job ${this.jobId}: another worker took it over`);
    }
  }

  /** Records what could not be cleaned up on the engine: a Leftover row each (shown with the job) and an event. */
  async leftovers(engineId: string, list: readonly Leftover[]): Promise<void> {
    if (list.length === 0) return;
    await this.db.leftover.createMany({
      data: list.map((l) => ({
        jobId: this.jobId,
        engineId,
        kind: l.kind,
        objectId: l.id,
        description: `${l.description}: ${l.error}`.slice(0, 2000),
      })),
    });
  }

  /** The last progress, for the job's final row. */
  progressFields(): { bytesDone: bigint; bytesTotal: bigint } {
    return this.meter.finalFields();
  }

  /** The hooks a flow takes: this job's signal, throttled progress, events and the engine-object journal. */
  hooks(): Required<Pick<FlowHooks, "signal" | "onProgress" | "onEvent" | "onEngineObject">> {
    return {
      signal: this.signal,
      onProgress: (p) => this.progress(p),
      onEvent: (e) => this.event(e.level, e.step, e.message, e.details),
      onEngineObject: (r) => this.engineObject(r),
    };
  }

  /** Waits for the event writes queued so far. */
  flush(): Promise<void> {
    return this.writes;
  }

  private enqueue(write: () => Promise<void>): void {
    this.writes = this.writes.then(write).catch((e) => {
      console.error(`[worker] job ${this.jobId}: writing its event log failed`, e);
    });
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const beat = await heartbeat(this.db, this.jobId, this.attempt, this.meter.sample());
      if (beat === "lost") this.abort("lease-lost", "another worker took this job over");
      else if (beat === "cancel-requested") this.abort("cancelled", "cancelled on request");
    } catch (e) {
      // A database hiccup: the next heartbeat tries again (the lease is far longer than one beat).
      console.error(`[worker] job ${this.jobId}: heartbeat failed`, e instanceof Error ? e.message : e);
    } finally {
      this.ticking = false;
    }
  }
}
