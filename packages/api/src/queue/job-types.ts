import { z } from "zod";

/**
 * Every background job type, with the input the API enqueues and the worker reads. The job's durable row
 * (table `job`) is what users see; pg-boss only carries `{ jobId }`.
 */
export const jobInputs = {
  /** Diagnostics: proves API → queue → worker → database end to end. */
  "system.echo": z.object({ message: z.string().max(200) }),
  /** Maintenance, every minute: expires approval requests past their deadline (no catalog row). */
  "approvals.expire": z.object({}),
} as const;

export type JobType = keyof typeof jobInputs;
export type JobInput<T extends JobType> = z.infer<(typeof jobInputs)[T]>;
export const JOB_TYPES = Object.keys(jobInputs) as JobType[];

/** What pg-boss carries. */
export interface QueuedJob {
  jobId: string;
}
