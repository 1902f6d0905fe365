// The job lifecycle, owned here alone: enqueue, claim, heartbeat (lease), progress, complete, fail, cancel, the
// lease sweep and the per-engine slots. Nothing else writes job.state or the row's lifecycle columns.
export { type AbortCause, JobAbort, JobRun } from "./attempt";
export { getBoss, stopBosses } from "./boss";
export { requestCancel } from "./cancel";
export { claimJob } from "./claim";
export { type CompleteCommit, completeJob } from "./complete";
export { createJobQueue, type EnqueueOptions, enqueueJob, type JobQueue } from "./enqueue";
export { failJob, handBackJob, JobFailure } from "./fail";
export {
  DURABLE_JOB_TYPES,
  ENGINE_JOB_TYPES,
  JOB_TYPES,
  type JobInput,
  type JobType,
  jobInputs,
  type ParsedJobInput,
  type QueuedJob,
} from "./job-types";
export { ENGINE_OBJECT_STEP, engineJournal, journalEngineObject } from "./journal";
export { type Heartbeat, heartbeat } from "./lease";
export { ProgressMeter, type ProgressSample } from "./progress";
export {
  retryDelayMs,
  type SendLater,
  TRANSIENT_ATTEMPTS,
  type TransientClassifier,
} from "./retry";
export { type JobAttempt, type JobBody, type RunJobOptions, runJob } from "./run";
export { acquireEngineSlot, type EngineSlot } from "./slots";
export { FINISHED_JOB_STATES, JOB_STATES, type JobState } from "./states";
export { sweepStaleJobs } from "./sweep";
