import type { Db, Vm } from "@lifeboat/db";
import type { JobInput, JobQueue } from "@lifeboat/jobs";
import { AppError } from "./errors";

const ACTIVE = ["queued", "running"];

/** A PostgreSQL unique violation (Prisma P2002), optionally of one named index. */
export function isUniqueViolation(e: unknown, index?: string): boolean {
  const err = e as { code?: unknown; message?: unknown; meta?: unknown } | null;
  if (!err || typeof err !== "object") return false;
  const text = `${String(err.message ?? "")} ${JSON.stringify(err.meta ?? {})}`;
  const unique = err.code === "P2002" || text.includes("23505") || /unique constraint/i.test(text);
  return unique && (index === undefined || text.includes(index));
}

async function requireEnabledEngine(db: Db, engineId: string): Promise<{ id: string; name: string }> {
  const engine = await db.engine.findUnique({
    where: { id: engineId },
    select: { id: true, name: true, enabled: true },
  });
  if (!engine) throw new AppError("PRECONDITION_FAILED", "The VM's engine is no longer registered.");
  if (!engine.enabled)
    throw new AppError(
      "PRECONDITION_FAILED",
      `The engine ${engine.name} is disabled in Lifeboat's settings.`,
    );
  return engine;
}

/**
 * Queues one backup of a catalog VM. At most one backup per VM is queued or running: PostgreSQL refuses a
 * second one (partial unique index job_one_active_backup_per_vm), which comes back as a CONFLICT naming the job
 * that holds the VM. Callers check the scope first (API: requireVmInScope; policies: the policy's team).
 */
export async function enqueueBackup(
  db: Db,
  queue: JobQueue,
  args: {
    vm: Pick<Vm, "id" | "engineId" | "name">;
    teamId: string | null;
    createdBy: string | null;
    policyId?: string | null;
    input?: JobInput<"backup.vm">;
  },
): Promise<string> {
  await requireEnabledEngine(db, args.vm.engineId);
  try {
    return await queue.enqueue("backup.vm", args.input ?? {}, {
      createdBy: args.createdBy,
      teamId: args.teamId,
      vmId: args.vm.id,
      engineId: args.vm.engineId,
      policyId: args.policyId ?? null,
    });
  } catch (e) {
    if (!isUniqueViolation(e, "job_one_active_backup_per_vm") && !isUniqueViolation(e)) throw e;
    const busy = await db.job.findFirst({
      where: { type: "backup.vm", vmId: args.vm.id, state: { in: ACTIVE } },
      select: { id: true, state: true },
    });
    throw new AppError(
      "CONFLICT",
      `A backup of ${args.vm.name} is already ${busy?.state ?? "queued or running"}${busy ? ` (job ${busy.id})` : ""}: wait for it to finish, or cancel it.`,
      busy ? { jobId: busy.id } : undefined,
    );
  }
}

/**
 * Queues a verification of one restore point (re-read and re-hash every chunk it uses). A restore point being
 * verified already is a CONFLICT naming that job.
 */
export async function enqueueVerify(
  db: Db,
  queue: JobQueue,
  args: {
    restorePoint: { id: string; vmId: string; engineId: string };
    teamId: string | null;
    createdBy: string | null;
    policyId?: string | null;
  },
): Promise<string> {
  const busy = await db.job.findFirst({
    where: { type: "verify", restorePointId: args.restorePoint.id, state: { in: ACTIVE } },
    select: { id: true },
  });
  if (busy)
    throw new AppError("CONFLICT", `This restore point is being verified already (job ${busy.id}).`, {
      jobId: busy.id,
    });
  return queue.enqueue(
    "verify",
    {},
    {
      createdBy: args.createdBy,
      teamId: args.teamId,
      vmId: args.restorePoint.vmId,
      engineId: args.restorePoint.engineId,
      restorePointId: args.restorePoint.id,
      policyId: args.policyId ?? null,
    },
  );
}
