export type { JobContext, JobHandler } from "./job-context";
export { startWorker, type Worker } from "./worker";
