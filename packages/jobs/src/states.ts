/** The states of a job row: queued → running → succeeded | failed | cancelled (running → queued on a handover). */
export const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINISHED_JOB_STATES: readonly string[] = ["succeeded", "failed", "cancelled"];

/** The row of one attempt: a write lands only while the row is still this attempt's (see claimJob). */
export interface AttemptFence {
  id: string;
  attempts: number;
  state: "running";
}

export function fenceOf(jobId: string, attempt: number): AttemptFence {
  return { id: jobId, attempts: attempt, state: "running" };
}
