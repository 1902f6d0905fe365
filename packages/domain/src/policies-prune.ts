import type { Db, Policy } from "@lifeboat/db";
import type { Repository } from "@lifeboat/repository";
import { z } from "zod";
import type { Actor, ServiceContext } from "./context";
import { AppError } from "./errors";
import { protectedVms, retentionOf } from "./policies";
import { policyIdInput, requirePolicyInScope } from "./policy-views";
import { computeRetention, RETENTION_RULES, type RetentionDecision } from "./retention";

/**
 * Prune: a policy's retention applied to the restore points it made of one VM. Restore points made outside the
 * policy (manual backups, other policies) are never touched by it: deleting those needs an approval
 * (kind `restore-point.delete`). Only complete points count; pending ones belong to a running backup.
 */

export interface PrunePlanPoint {
  id: string;
  createdAt: Date;
  pinned: boolean;
  description: string;
  verifyState: string;
  decision: RetentionDecision;
}

export interface PrunePlan {
  policyId: string;
  vmId: string;
  timeZone: string;
  points: PrunePlanPoint[];
  keep: number;
  remove: number;
}

/** What prune would do now (the dry run the UI shows): every point newest first, kept by which rule, or going. */
export async function planPrune(db: Db, policy: Policy, vmId: string): Promise<PrunePlan> {
  const rows = await db.restorePoint.findMany({
    where: { vmId, policyId: policy.id, state: "complete" },
    select: { id: true, createdAt: true, pinned: true, description: true, verifyState: true },
  });
  const byId = new Map(rows.map((r) => [r.id, r]));
  const decisions = computeRetention(rows, retentionOf(policy), policy.timezone);
  const points = decisions.map((decision) => {
    const r = byId.get(decision.id)!;
    return { ...r, decision };
  });
  const keep = points.filter((p) => p.decision.keep).length;
  return { policyId: policy.id, vmId, timeZone: policy.timezone, points, keep, remove: points.length - keep };
}

/**
 * The VMs a policy prunes: those it protects now and those it still has restore points of (a VM taken out of the
 * policy keeps being thinned by the retention it was backed up under).
 */
export async function pruneTargets(db: Db, policy: Policy): Promise<Array<{ vmId: string; vmName: string }>> {
  const vms = await protectedVms(db, policy);
  const withPoints = await db.restorePoint.findMany({
    where: { policyId: policy.id, state: { in: ["complete", "deleting"] } },
    distinct: ["vmId"],
    select: { vmId: true, vm: { select: { name: true } } },
  });
  const byId = new Map(vms.map((v) => [v.id, v.name]));
  for (const r of withPoints) if (!byId.has(r.vmId)) byId.set(r.vmId, r.vm.name);
  return [...byId]
    .map(([vmId, vmName]) => ({ vmId, vmName }))
    .sort((a, b) => a.vmName.localeCompare(b.vmName));
}

/** Prune one VM of a policy, or every VM it prunes (`pruneTargets`). */
export const pruneRequest = z.object({ policyId: policyIdInput, vmId: z.string().max(100).optional() });
export type PruneRequest = z.infer<typeof pruneRequest>;

async function requestedTargets(db: Db, policy: Policy, vmId: string | undefined) {
  return (await pruneTargets(db, policy)).filter((t) => !vmId || t.vmId === vmId);
}

const keptBy = z.enum([...RETENTION_RULES, "pinned"]);

export const prunePreviewView = z.object({
  timeZone: z.string(),
  vms: z.array(
    z.object({
      vmId: z.string(),
      vmName: z.string(),
      keep: z.number().int(),
      remove: z.number().int(),
      points: z.array(
        z.object({
          id: z.string(),
          createdAt: z.date(),
          description: z.string(),
          pinned: z.boolean(),
          verifyState: z.string(),
          keep: z.boolean(),
          /** The rule that keeps it (null when it goes). */
          rule: keptBy.nullable(),
          /** The calendar bucket it stands for, e.g. "2026-W13". */
          bucket: z.string().nullable(),
          /** For a point that goes: the newer point of the same bucket kept instead. */
          supersededBy: z
            .object({ id: z.string(), rule: z.enum(RETENTION_RULES), bucket: z.string().nullable() })
            .nullable(),
        }),
      ),
    }),
  ),
});
export type PrunePreview = z.infer<typeof prunePreviewView>;

/** Dry run of the policy's retention: per VM, which of its restore points go and which rule keeps each other. */
export async function previewPrune(db: Db, actor: Actor, input: PruneRequest): Promise<PrunePreview> {
  const policy = await requirePolicyInScope(db, actor, input.policyId);
  const targets = await requestedTargets(db, policy, input.vmId);
  const vms: PrunePreview["vms"] = [];
  for (const t of targets) {
    const plan = await planPrune(db, policy, t.vmId);
    vms.push({
      vmId: t.vmId,
      vmName: t.vmName,
      keep: plan.keep,
      remove: plan.remove,
      points: plan.points.map((p) => ({
        id: p.id,
        createdAt: p.createdAt,
        description: p.description,
        pinned: p.pinned,
        verifyState: p.verifyState,
        keep: p.decision.keep,
        rule: p.decision.rule,
        bucket: p.decision.bucket,
        supersededBy: p.decision.keep ? null : p.decision.supersededBy,
      })),
    });
  }
  return { timeZone: policy.timezone, vms };
}

/**
 * Applies the policy's (approved) retention now, to one VM or to every VM it has restore points of: one
 * prune.vm job per VM. Pinned points stay; GC reclaims the space later.
 */
export async function startPrune(
  ctx: ServiceContext,
  actor: Actor,
  input: PruneRequest,
): Promise<{ jobIds: string[] }> {
  const policy = await requirePolicyInScope(ctx.db, actor, input.policyId);
  ctx.audit.teamId = policy.teamId;
  ctx.audit.targetType = "policy";
  ctx.audit.targetId = policy.id;
  const targets = await requestedTargets(ctx.db, policy, input.vmId);
  if (input.vmId && targets.length === 0)
    throw new AppError("NOT_FOUND", "This policy protects no such VM and has no restore points of it.");
  const jobIds: string[] = [];
  for (const t of targets)
    jobIds.push(
      await ctx.queue.enqueue(
        "prune.vm",
        { policyId: policy.id, vmId: t.vmId },
        { createdBy: actor.userId, teamId: policy.teamId, policyId: policy.id, vmId: t.vmId },
      ),
    );
  ctx.audit.details = { policy: policy.name, vms: targets.map((t) => t.vmName), jobIds };
  return { jobIds };
}

export type DeleteOutcome = "deleted" | "pinned" | "busy" | "gone";

/**
 * Deletes one restore point: marks it `deleting` (only if it is not pinned and no queued or running job uses it),
 * removes its manifest from the repository, then its catalog rows. Its layers and chunks stay until GC finds
 * nothing else references them. A point left in `deleting` by a crash is finished by the next call.
 */
export async function deleteRestorePoint(
  db: Db,
  repository: Repository,
  restorePointId: string,
): Promise<DeleteOutcome> {
  const claimed = await db.$executeRaw`
    UPDATE restore_point rp SET state = 'deleting'
    WHERE rp.id = ${restorePointId}
      AND rp.pinned = false
      AND rp.state IN ('complete', 'failed', 'deleting')
      AND NOT EXISTS (
        SELECT 1 FROM job j
        WHERE j."restorePointId" = rp.id AND j.state IN ('queued', 'running') AND j.type <> 'restore-point.delete'
      )`;
  if (claimed !== 1) {
    const row = await db.restorePoint.findUnique({ where: { id: restorePointId }, select: { pinned: true } });
    if (!row) return "gone";
    return row.pinned ? "pinned" : "busy";
  }
  const row = await db.restorePoint.findUnique({
    where: { id: restorePointId },
    select: { manifestId: true },
  });
  if (!row) return "gone";
  if (row.manifestId) await repository.deleteRestorePoint(row.manifestId);
  await db.restorePoint.deleteMany({ where: { id: restorePointId, state: "deleting" } });
  return "deleted";
}

export interface PruneResult {
  policyId: string;
  vmId: string;
  kept: number;
  deleted: string[];
  /** Points retention lets go that could not be deleted now (a job uses them, or they were pinned meanwhile). */
  skipped: Array<{ id: string; reason: DeleteOutcome }>;
}

/** Applies a policy's retention to one VM now. */
export async function pruneVm(
  db: Db,
  repository: Repository,
  policyId: string,
  vmId: string,
): Promise<PruneResult> {
  const policy = await db.policy.findUnique({ where: { id: policyId } });
  if (!policy)
    throw new AppError("NOT_FOUND", `The policy ${policyId} no longer exists; nothing was pruned.`);
  const plan = await planPrune(db, policy, vmId);
  const result: PruneResult = { policyId, vmId, kept: plan.keep, deleted: [], skipped: [] };
  // A crash mid-delete leaves points in `deleting`: finish them too.
  const unfinished = await db.restorePoint.findMany({
    where: { vmId, policyId, state: "deleting" },
    select: { id: true },
  });
  const doomed = [
    ...plan.points.filter((p) => !p.decision.keep).map((p) => p.id),
    ...unfinished.map((u) => u.id),
  ];
  for (const id of doomed) {
    const outcome = await deleteRestorePoint(db, repository, id);
    if (outcome === "deleted") result.deleted.push(id);
    else if (outcome !== "gone") result.skipped.push({ id, reason: outcome });
  }
  return result;
}
