import type { Db, Prisma } from "@lifeboat/db";
import { getBoss } from "./boss";
import { type JobInput, type JobType, jobInputs, type QueuedJob } from "./job-types";

export interface EnqueueOptions {
  createdBy?: string | null;
  teamId?: string | null;
  /** pg-boss singleton key: at most one queued/active job per key (e.g. one backup per VM). */
  singletonKey?: string;
  /** What the job is about, recorded on its row (job history per VM, restore point and policy). */
  vmId?: string | null;
  engineId?: string | null;
  restorePointId?: string | null;
  policyId?: string | null;
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
      vmId: opts.vmId ?? null,
      engineId: opts.engineId ?? null,
      restorePointId: opts.restorePointId ?? null,
      policyId: opts.policyId ?? null,
    },
  });
  try {
    const boss = await getBoss(databaseUrl);
    const data: QueuedJob = { jobId: job.id };
    await boss.send(type, data, opts.singletonKey ? { singletonKey: opts.singletonKey } : {});
  } catch (e) {
    // A row no worker will ever pick up must not stay queued (it would block the VM's next backup).
    await db.job
      .updateMany({
        where: { id: job.id, state: "queued" },
        data: { state: "failed", finishedAt: new Date(), error: "Lifeboat could not queue the job." },
      })
      .catch(() => undefined);
    throw e;
  }
  return job.id;
}
