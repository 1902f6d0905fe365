import type { Db, Policy, PolicyRun } from "@lifeboat/db";
import { z } from "zod";
import type { Actor } from "./context";
import { AppError } from "./errors";
import { roleGrants, type TeamPermission } from "./permissions";
import { policySpec } from "./policies";
import { inTeamScope } from "./vm-ownership";

export const policyIdInput = z.string().min(1).max(100);

/** A stored policy as the API shows it. */
export const policyView = policySpec.safeExtend({
  id: z.string(),
  teamId: z.string(),
  teamName: z.string(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const policyRunView = z.object({
  id: z.string(),
  kind: z.string(),
  scheduledFor: z.date(),
  /** started | missed | skipped */
  state: z.string(),
  startedAt: z.date().nullable(),
  details: z.unknown(),
});

export function toPolicyRunView(r: PolicyRun): z.infer<typeof policyRunView> {
  return {
    id: r.id,
    kind: r.kind,
    scheduledFor: r.scheduledFor,
    state: r.state,
    startedAt: r.startedAt,
    details: r.details,
  };
}

/** The policy if the actor holds the procedure's permission in its team; NOT_FOUND otherwise (no probing). */
export async function requirePolicyInScope(db: Db, actor: Actor, policyId: string) {
  const policy = await db.policy.findUnique({
    where: { id: policyId },
    include: { team: { select: { name: true } }, vms: { select: { vmId: true } } },
  });
  if (!policy || !inTeamScope(actor, policy.teamId))
    throw new AppError("NOT_FOUND", "No such policy (or it belongs to another team).");
  return policy;
}

export function toPolicyView(p: Policy & { team: { name: string }; vms: Array<{ vmId: string }> }) {
  return {
    id: p.id,
    teamId: p.teamId,
    teamName: p.team.name,
    name: p.name,
    enabled: p.enabled,
    includeTeamVms: p.includeTeamVms,
    vmIds: p.vms.map((v) => v.vmId).sort(),
    schedule: p.schedule,
    timezone: p.timezone,
    windowMinutes: p.windowMinutes,
    keepLast: p.keepLast,
    keepHourly: p.keepHourly,
    keepDaily: p.keepDaily,
    keepWeekly: p.keepWeekly,
    keepMonthly: p.keepMonthly,
    keepYearly: p.keepYearly,
    verifySchedule: p.verifySchedule,
    verifyMaxAgeDays: p.verifyMaxAgeDays,
    keepSnapshot: p.keepSnapshot,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  };
}

/** Whether the actor holds `permission` in `teamId` (site admins everywhere): drives what buttons a page shows. */
export async function holds(
  db: Db,
  actor: Actor,
  teamId: string,
  permission: TeamPermission,
): Promise<boolean> {
  if (actor.siteAdmin) return true;
  const m = await db.membership.findUnique({
    where: { teamId_userId: { teamId, userId: actor.userId } },
    select: { role: true },
  });
  return m ? roleGrants(m.role, permission) : false;
}
