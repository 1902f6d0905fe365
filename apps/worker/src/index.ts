export { type JobContext, type JobHandler, runJob } from "./run-job";
export { startWorker, type Worker } from "./worker";
