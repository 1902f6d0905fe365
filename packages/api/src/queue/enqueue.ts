import type { Db, Prisma } from "@lifeboat/db";
import { getBoss } from "./boss";
import { type JobInput, type JobType, jobInputs, type QueuedJob } from "./job-types";

export interface EnqueueOptions {
  createdBy?: string | null;
  teamId?: string | null;
  /** pg-boss singleton key: at most one queued/active job per key (e.g. one backup per VM). */
  singletonKey?: string;
}

export interface JobQueue {
  enqueue<T extends JobType>(type: T, input: JobInput<T>, opts?: EnqueueOptions): Promise<string>;
}

/** A queue bound to one database (the catalog row and the pg-boss job live in the same PostgreSQL). */
export function createJobQueue(db: Db, databaseUrl: string): JobQueue {
  return { enqueue: (type, input, opts) => enqueueJob(db, databaseUrl, type, input, opts) };
}

/** Records the job's durable row, then queues it. Returns the job id users follow. */
export async function enqueueJob<T extends JobType>(
  db: Db,
  databaseUrl: string,
  type: T,
  input: JobInput<T>,
  opts: EnqueueOptions = {},
): Promise<string> {
  const parsed = jobInputs[type].parse(input);
  const job = await db.job.create({
    data: {
      type,
      input: parsed as Prisma.InputJsonValue,
      createdBy: opts.createdBy ?? null,
      teamId: opts.teamId ?? null,
    },
  });
  const boss = await getBoss(databaseUrl);
  const data: QueuedJob = { jobId: job.id };
  await boss.send(type, data, opts.singletonKey ? { singletonKey: opts.singletonKey } : {});
  return job.id;
}
