import type { FlowProgress } from "@lifeboat/ovirt-core";

/** Flow phases in an operator's words. */
const PHASE_WORDS: Record<string, string> = {
  download: "downloading layers from the engine",
  upload: "uploading layers to the engine",
  finishing: "writing the restore point",
};

/** What a heartbeat writes to the row: the step in words, the bytes so far and the rate. */
export interface ProgressSample {
  phase: string | null;
  bytesDone: bigint;
  bytesTotal: bigint;
  rate: number | null;
}

/**
 * The progress of one attempt, kept in memory between heartbeats: the latest phase and byte counts, and the rate
 * over the last heartbeat interval.
 */
export class ProgressMeter {
  private phaseText: string | null;
  private bytesDone = 0;
  private bytesTotal = 0;
  private last = { at: performance.now(), bytes: 0 };
  private rate: number | null = null;

  constructor(phase: string | null) {
    this.phaseText = phase;
  }

  setPhase(phase: string): void {
    this.phaseText = phase;
  }

  update(p: FlowProgress): void {
    this.phaseText = PHASE_WORDS[p.phase] ?? p.phase;
    // A phase without bytes (e.g. writing the restore point) keeps the figures of the transfer before it.
    if (p.bytesTotal === 0 && p.bytesDone === 0) return;
    this.bytesDone = p.bytesDone;
    this.bytesTotal = p.bytesTotal;
  }

  /** The sample for a heartbeat; the rate covers the time since the previous sample. */
  sample(): ProgressSample {
    const now = performance.now();
    const seconds = (now - this.last.at) / 1000;
    if (seconds > 0 && this.bytesDone !== this.last.bytes)
      this.rate = Math.max(0, (this.bytesDone - this.last.bytes) / seconds);
    else if (seconds > 0 && this.bytesDone === this.last.bytes) this.rate = this.bytesDone > 0 ? 0 : null;
    this.last = { at: now, bytes: this.bytesDone };
    return {
      phase: this.phaseText,
      bytesDone: BigInt(Math.round(this.bytesDone)),
      bytesTotal: BigInt(Math.round(this.bytesTotal)),
      rate: this.rate,
    };
  }

  /** The last progress, for the job's final row. */
  finalFields(): { bytesDone: bigint; bytesTotal: bigint } {
    return {
      bytesDone: BigInt(Math.round(this.bytesDone)),
      bytesTotal: BigInt(Math.round(Math.max(this.bytesTotal, this.bytesDone))),
    };
  }
}
