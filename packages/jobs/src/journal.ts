import type { Db } from "@lifeboat/db";
import type { EngineObjectRecord } from "@lifeboat/ovirt-core";
import { z } from "zod";

/** The journal step of an engine object a job created or removed (read back by recovery). */
export const ENGINE_OBJECT_STEP = "engine-object";

// Every kind a flow journals, checked against EngineObjectRecord["kind"]: a kind missing here would be dropped
// when the journal is read back, and a successor would not clean that object up (a VM backup left holding the VM).
const KINDS: Record<EngineObjectRecord["kind"], true> = {
  snapshot: true,
  image_transfer: true,
  disk: true,
  vm: true,
  backup: true,
};

const record = z.object({
  kind: z.enum(Object.keys(KINDS) as [EngineObjectRecord["kind"], ...EngineObjectRecord["kind"][]]),
  id: z.string(),
  vmId: z.string().optional(),
  diskId: z.string().optional(),
  state: z.enum(["created", "removed"]),
  purpose: z.string(),
});

/**
 * Journals an engine object in the job's event log, only while `attempt` still holds the row. False when another
 * worker took the job over: that attempt must create nothing more.
 */
export async function journalEngineObject(
  db: Db,
  jobId: string,
  attempt: number,
  r: EngineObjectRecord,
): Promise<boolean> {
  const verb = r.state === "created" ? "created" : "removed";
  const message = `${verb} ${r.kind.replace("_", " ")} ${r.id} (${r.purpose})`;
  const written = await db.$executeRaw`
    INSERT INTO job_event ("jobId", level, step, message, details)
    SELECT ${jobId}, 'info', ${ENGINE_OBJECT_STEP}, ${message}, ${JSON.stringify(r)}::jsonb
    WHERE EXISTS (SELECT 1 FROM job WHERE id = ${jobId} AND attempts = ${attempt} AND state = 'running')`;
  return written === 1;
}

/** Every engine object a job journaled, over all its attempts, in order. */
export async function engineJournal(db: Db, jobId: string): Promise<EngineObjectRecord[]> {
  const rows = await db.jobEvent.findMany({
    where: { jobId, step: ENGINE_OBJECT_STEP },
    orderBy: { id: "asc" },
    select: { details: true },
  });
  const out: EngineObjectRecord[] = [];
  for (const r of rows) {
    const parsed = record.safeParse(r.details);
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}
