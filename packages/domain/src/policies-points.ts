import type { Db } from "@lifeboat/db";
import { z } from "zod";
import { registerApprovalExecutor, requestApproval } from "./approvals";
import type { Actor, ServiceContext } from "./context";
import { AppError } from "./errors";
import { actingTeamForVm, restorePointWhere } from "./vm-ownership";

/**
 * Restore points and retention: pinning protects a point from every prune; deleting one by hand (outside the
 * retention of the policy that made it) waits for a second approver (kind `restore-point.delete`) and then runs
 * as a `restore-point.delete` job in a worker, which owns the repository.
 */

/** The restore point if the actor may see it (NOT_FOUND otherwise, so ids of other teams cannot be probed). */
export async function requireRestorePointInScope(db: Db, actor: Actor, restorePointId: string) {
  const rp = await db.restorePoint.findFirst({
    where: { AND: [{ id: restorePointId }, restorePointWhere(actor)] },
    select: {
      id: true,
      vmId: true,
      vmName: true,
      createdAt: true,
      pinned: true,
      state: true,
      policyId: true,
    },
  });
  if (!rp) throw new AppError("NOT_FOUND", "No such restore point (or it belongs to another team).");
  return rp;
}

/** Pins or unpins a restore point. A point being deleted cannot be pinned any more. */
export async function setPinned(db: Db, restorePointId: string, pinned: boolean): Promise<void> {
  const changed = await db.restorePoint.updateMany({
    where: { id: restorePointId, state: { not: "deleting" } },
    data: { pinned },
  });
  if (changed.count !== 1)
    throw new AppError("CONFLICT", "This restore point is being deleted; it can no longer be pinned.");
}

export const restorePointDeletion = z.object({
  restorePointId: z.string().min(1),
  vmId: z.string().min(1),
  vmName: z.string(),
  createdAt: z.string(),
});
export type RestorePointDeletion = z.infer<typeof restorePointDeletion>;

/**
 * Pins a restore point (protected from every prune) or gives it back to its policy's retention, for the actor
 * (pinning: backup:create; unpinning, which may end in its deletion: policy:manage).
 */
export async function pinRestorePoint(
  ctx: ServiceContext,
  actor: Actor,
  restorePointId: string,
  pinned: boolean,
): Promise<{ restorePointId: string; pinned: boolean }> {
  const rp = await requireRestorePointInScope(ctx.db, actor, restorePointId);
  ctx.audit.teamId = (await actingTeamForVm(ctx.db, actor, rp.vmId)) ?? undefined;
  ctx.audit.targetType = "restore_point";
  ctx.audit.targetId = rp.id;
  ctx.audit.details = { vm: rp.vmName, createdAt: rp.createdAt.toISOString(), was: rp.pinned };
  await setPinned(ctx.db, rp.id, pinned);
  return { restorePointId: rp.id, pinned };
}

/** Files the approval request for deleting one restore point by hand (another approver of the team decides). */
export async function requestRestorePointDeletion(
  ctx: ServiceContext,
  actor: Actor,
  input: { restorePointId: string; reason: string; teamId?: string },
): Promise<{ approvalRequestId: string; expiresAt: Date }> {
  ctx.audit.targetType = "restore_point";
  ctx.audit.targetId = input.restorePointId;
  const rp = await requireRestorePointInScope(ctx.db, actor, input.restorePointId);
  if (rp.pinned) throw new AppError("PRECONDITION_FAILED", "This restore point is pinned: unpin it first.");
  if (!["complete", "failed"].includes(rp.state))
    throw new AppError("PRECONDITION_FAILED", `This restore point is ${rp.state}; it cannot be deleted now.`);
  const teamId = await actingTeamForVm(ctx.db, actor, rp.vmId, input.teamId);
  if (!teamId)
    throw new AppError(
      "PRECONDITION_FAILED",
      "No team owns this VM, so no team approver can approve its deletion: give the VM to a team first.",
    );
  ctx.audit.teamId = teamId;
  const open = await ctx.db.approvalRequest.findFirst({
    where: {
      kind: "restore-point.delete",
      targetId: rp.id,
      state: "pending",
      expiresAt: { gt: new Date() },
    },
    select: { id: true },
  });
  if (open)
    throw new AppError("CONFLICT", "A request to delete this restore point already waits for approval.");
  const payload: RestorePointDeletion = {
    restorePointId: rp.id,
    vmId: rp.vmId,
    vmName: rp.vmName,
    createdAt: rp.createdAt.toISOString(),
  };
  const requested = await requestApproval(ctx, {
    teamId,
    kind: "restore-point.delete",
    payload,
    summary: `Delete the restore point of ${rp.vmName} from ${rp.createdAt.toISOString().slice(0, 16).replace("T", " ")} UTC`,
    reason: input.reason,
    target: { type: "restore_point", id: rp.id },
  });
  return { approvalRequestId: requested.id, expiresAt: requested.expiresAt };
}

// What runs once another approver of the team approves a deletion: a worker job deletes it (the repository
// manifest, then the catalog rows), unless it was pinned or taken by a job meanwhile.
registerApprovalExecutor(
  "restore-point.delete",
  async ({ db, queue, request, payload, requester }) => {
    const rp = await db.restorePoint.findUnique({
      where: { id: payload.restorePointId },
      select: { id: true, pinned: true, vmId: true, engineId: true },
    });
    if (!rp) throw new AppError("NOT_FOUND", "The restore point no longer exists.");
    if (rp.pinned)
      throw new AppError(
        "PRECONDITION_FAILED",
        "The restore point was pinned meanwhile; nothing was deleted.",
      );
    const jobId = await queue.enqueue(
      "restore-point.delete",
      { restorePointId: rp.id },
      {
        createdBy: requester.userId,
        teamId: request.teamId,
        vmId: rp.vmId,
        engineId: rp.engineId,
        restorePointId: rp.id,
      },
    );
    return { jobId, result: { restorePointId: rp.id } };
  },
  { payload: restorePointDeletion },
);
