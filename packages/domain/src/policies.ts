import type { Db, Policy, Prisma } from "@lifeboat/db";
import { z } from "zod";
import { registerApprovalExecutor } from "./approvals/registry";
import { requestApproval } from "./approvals/request";
import type { Actor, ServiceContext } from "./context";
import { AppError } from "./errors";
import { describeRetention, type RetentionRules } from "./retention";
import { parseSchedule, scheduleInWords } from "./schedules";
import { requireTeamScope } from "./vm-ownership";

/**
 * Protection policies: what a team backs up, when, how long it keeps it and how often it checks it. Every change
 * (create, edit, pause, delete) waits for a second approver of the team (approval kind `policy.change`); the
 * executor below applies it, after validating it again against the catalog as it is at that moment.
 */

const count = z.number().int().min(0).max(10_000);

/** How a policy backs its VMs up (the backup.vm job's mode is chosen per run, see policies-run). */
export const POLICY_BACKUP_MODES = ["auto", "snapshot-chain"] as const;
export type PolicyBackupMode = (typeof POLICY_BACKUP_MODES)[number];

/** Everything a policy is, as a form sends it and an approval request carries it. */
export const policySpec = z.object({
  name: z.string().trim().min(1, "Give the policy a name.").max(100),
  enabled: z.boolean().default(true),
  /** Also protect every VM the team's rules give it (now and later). */
  includeTeamVms: z.boolean().default(false),
  /** Catalog VM ids (vm.id) protected explicitly. */
  vmIds: z.array(z.string().min(1).max(100)).max(2000).default([]),
  schedule: z.string().trim().min(1, "Give a schedule (cron expression).").max(200),
  timezone: z.string().trim().min(1).max(64).default("UTC"),
  /** A run starts at most this many minutes after its scheduled time, else it is recorded as missed. */
  windowMinutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .default(120),
  keepLast: count.default(0),
  keepHourly: count.default(0),
  keepDaily: count.default(7),
  keepWeekly: count.default(4),
  keepMonthly: count.default(6),
  keepYearly: count.default(0),
  verifySchedule: z
    .string()
    .trim()
    .max(200)
    .nullish()
    .transform((v) => (v ? v : null)),
  verifyMaxAgeDays: z.number().int().min(1).max(3650).default(30),
  keepSnapshot: z.boolean().default(false),
  /**
   * auto: incremental through the engine's backup API where the engine and the disks allow it, else the snapshot
   * chain, with a full backup every `fullEveryIncrementals` incrementals or `fullEveryDays` days; snapshot-chain:
   * always the snapshot chain.
   */
  backupMode: z.enum(POLICY_BACKUP_MODES).default("auto"),
  /** auto: a full backup once this many incrementals followed the last full one (0: no limit by count). */
  fullEveryIncrementals: z.number().int().min(0).max(1000).default(30),
  /** auto: a full backup once the last full one is this many days old (0: no limit by age). */
  fullEveryDays: z.number().int().min(0).max(3650).default(30),
});
export type PolicySpec = z.infer<typeof policySpec>;
export type PolicySpecInput = z.input<typeof policySpec>;

const teamId = z.string().min(1).max(100);
const policyId = z.string().min(1).max(100);

/** A policy change as it waits in an approval request (kind "policy.change"). */
export const policyChange = z.discriminatedUnion("op", [
  z.object({ op: z.literal("create"), teamId, spec: policySpec }),
  z.object({
    op: z.literal("update"),
    teamId,
    policyId,
    /** The policy as the requester saw it: a change approved after someone else changed it is refused. */
    baseUpdatedAt: z.string(),
    spec: policySpec,
  }),
  z.object({ op: z.literal("delete"), teamId, policyId, baseUpdatedAt: z.string(), name: z.string() }),
]);
export type PolicyChange = z.infer<typeof policyChange>;

export function retentionOf(p: Pick<Policy, keyof RetentionRules>): RetentionRules {
  return {
    keepLast: p.keepLast,
    keepHourly: p.keepHourly,
    keepDaily: p.keepDaily,
    keepWeekly: p.keepWeekly,
    keepMonthly: p.keepMonthly,
    keepYearly: p.keepYearly,
  };
}

/** The spec of a stored policy (what an edit form starts from). */
export function specOf(p: Policy & { vms: Array<{ vmId: string }> }): PolicySpec {
  return {
    name: p.name,
    enabled: p.enabled,
    includeTeamVms: p.includeTeamVms,
    vmIds: p.vms.map((v) => v.vmId).sort(),
    schedule: p.schedule,
    timezone: p.timezone,
    windowMinutes: p.windowMinutes,
    ...retentionOf(p),
    verifySchedule: p.verifySchedule,
    verifyMaxAgeDays: p.verifyMaxAgeDays,
    keepSnapshot: p.keepSnapshot,
    backupMode: p.backupMode === "snapshot-chain" ? "snapshot-chain" : "auto",
    fullEveryIncrementals: p.fullEveryIncrementals,
    fullEveryDays: p.fullEveryDays,
  };
}

/**
 * Checks a spec against the catalog: the schedules parse in the zone, something is kept, every explicit VM is
 * one the team owns, and the name is free in the team. Returns the explicit VMs with their names.
 */
export async function validatePolicySpec(
  db: Db | Prisma.TransactionClient,
  team: string,
  spec: PolicySpec,
  opts: { policyId?: string } = {},
): Promise<{ vms: Array<{ id: string; name: string }> }> {
  parseSchedule(spec.schedule, spec.timezone);
  if (spec.verifySchedule) {
    try {
      parseSchedule(spec.verifySchedule, spec.timezone);
    } catch (e) {
      const app = e instanceof AppError ? e : null;
      throw app ? new AppError("BAD_REQUEST", `Verify schedule: ${app.message}`) : e;
    }
  }
  if (spec.keepSnapshot && spec.backupMode !== "snapshot-chain")
    throw new AppError(
      "BAD_REQUEST",
      "Keeping the snapshot needs the snapshot-chain backup mode (the backup API takes no snapshot): choose snapshot-chain, or do not keep the snapshot.",
    );
  const r = retentionOf(spec);
  if (Object.values(r).every((n) => n === 0))
    throw new AppError(
      "BAD_REQUEST",
      "Keep something: with every keep count at 0, each backup would be pruned right after it is made.",
    );
  if (!spec.includeTeamVms && spec.vmIds.length === 0)
    throw new AppError("BAD_REQUEST", "Choose the VMs to protect, or protect every VM of the team.");
  const ids = [...new Set(spec.vmIds)];
  const vms = await db.vm.findMany({
    where: { id: { in: ids }, teams: { some: { teamId: team } } },
    select: { id: true, name: true },
    orderBy: { name: "asc" },
  });
  if (vms.length !== ids.length) {
    const found = new Set(vms.map((v) => v.id));
    const missing = ids.filter((id) => !found.has(id));
    throw new AppError(
      "BAD_REQUEST",
      `${missing.length} of the chosen VMs do not belong to the team (or no longer exist): ${missing.slice(0, 5).join(", ")}.`,
    );
  }
  const clash = await db.policy.findFirst({
    where: {
      teamId: team,
      name: { equals: spec.name, mode: "insensitive" },
      ...(opts.policyId ? { id: { not: opts.policyId } } : {}),
    },
    select: { id: true },
  });
  if (clash) throw new AppError("CONFLICT", `The team already has a policy named ${spec.name}.`);
  return { vms };
}

/** How a policy backs up, in words ("incremental where the engine allows, a full backup after 30 incrementals…"). */
export function describeBackupMode(
  p: Pick<PolicySpec, "backupMode" | "fullEveryIncrementals" | "fullEveryDays">,
): string {
  if (p.backupMode === "snapshot-chain") return "snapshot chain";
  const full = [
    p.fullEveryIncrementals > 0 ? `after ${p.fullEveryIncrementals} incrementals` : null,
    p.fullEveryDays > 0 ? `every ${p.fullEveryDays} days` : null,
  ].filter(Boolean);
  return full.length > 0
    ? `incremental where the engine allows, a full backup ${full.join(" or ")}`
    : "incremental where the engine allows, forever";
}

function specWords(spec: PolicySpec, vmCount: number): string {
  const what = [
    vmCount > 0 ? `${vmCount} VM${vmCount === 1 ? "" : "s"}` : null,
    spec.includeTeamVms ? "every VM of the team" : null,
  ]
    .filter(Boolean)
    .join(" and ");
  return `${what}; ${scheduleInWords(spec.schedule, spec.timezone)}; ${describeRetention(retentionOf(spec))}; ${describeBackupMode(spec)}`;
}

const FIELD_WORDS: Record<Exclude<keyof PolicySpec, "vmIds">, string> = {
  name: "name",
  enabled: "enabled",
  includeTeamVms: "every VM of the team",
  schedule: "schedule",
  timezone: "time zone",
  windowMinutes: "window (minutes)",
  keepLast: "keep-last",
  keepHourly: "keep-hourly",
  keepDaily: "keep-daily",
  keepWeekly: "keep-weekly",
  keepMonthly: "keep-monthly",
  keepYearly: "keep-yearly",
  verifySchedule: "verify schedule",
  verifyMaxAgeDays: "verify points older than (days)",
  keepSnapshot: "keep the snapshot",
  backupMode: "backup mode",
  fullEveryIncrementals: "full backup every (incrementals)",
  fullEveryDays: "full backup every (days)",
};

/** What an update changes, field by field ("schedule: 30 2 * * * → 0 3 * * *", "VMs: +2 −1"). */
export function specDiff(before: PolicySpec, after: PolicySpec): string[] {
  const lines: string[] = [];
  for (const [key, words] of Object.entries(FIELD_WORDS) as Array<[keyof typeof FIELD_WORDS, string]>) {
    const a = before[key];
    const b = after[key];
    if (a !== b) lines.push(`${words}: ${a ?? "none"} → ${b ?? "none"}`);
  }
  const was = new Set(before.vmIds);
  const now = new Set(after.vmIds);
  const added = [...now].filter((id) => !was.has(id)).length;
  const removed = [...was].filter((id) => !now.has(id)).length;
  if (added || removed) lines.push(`VMs: +${added} −${removed}`);
  return lines;
}

/** Validates a change now and says it in one line for approvers. */
export async function validatePolicyChange(db: Db, change: PolicyChange): Promise<{ summary: string }> {
  const team = await db.team.findUnique({ where: { id: change.teamId }, select: { name: true } });
  if (!team) throw new AppError("NOT_FOUND", "No such team.");
  if (change.op === "create") {
    const { vms } = await validatePolicySpec(db, change.teamId, change.spec);
    return {
      summary: `Create policy ${change.spec.name} for ${team.name}: ${specWords(change.spec, vms.length)}`,
    };
  }
  const current = await db.policy.findUnique({ where: { id: change.policyId }, include: { vms: true } });
  if (!current || current.teamId !== change.teamId)
    throw new AppError("NOT_FOUND", "No such policy in this team.");
  if (change.op === "delete")
    return {
      summary: `Delete policy ${current.name} of ${team.name} (its restore points stay until deleted)`,
    };
  await validatePolicySpec(db, change.teamId, change.spec, { policyId: current.id });
  const diff = specDiff(specOf(current), change.spec);
  if (diff.length === 0)
    throw new AppError("BAD_REQUEST", "Nothing changes: the policy already is like this.");
  return { summary: `Change policy ${current.name}: ${diff.join("; ")}`.slice(0, 300) };
}

/** A policy change as the form asks for it (the stored change also carries the base version and name). */
export const policyChangeRequest = z.object({
  teamId,
  change: z.discriminatedUnion("op", [
    z.object({ op: z.literal("create"), spec: policySpec }),
    z.object({
      op: z.literal("update"),
      policyId,
      spec: policySpec,
      /** The policy's updatedAt as the form loaded it: refused if it changed since. */
      baseUpdatedAt: z.date().optional(),
    }),
    z.object({ op: z.literal("delete"), policyId, baseUpdatedAt: z.date().optional() }),
  ]),
  /** Why: approvers read it. */
  reason: z.string().trim().min(1, "Say why: a reason is required.").max(2000),
});
export type PolicyChangeRequest = z.infer<typeof policyChangeRequest>;

export const policyChangeRequested = z.object({
  approvalRequestId: z.string(),
  summary: z.string(),
  expiresAt: z.date(),
});

/**
 * Files a policy change (create, change, delete) for another approver of the team: validated now against the
 * policy as the requester saw it, and again on approval.
 */
export async function requestPolicyChange(
  ctx: ServiceContext,
  actor: Actor,
  input: PolicyChangeRequest,
): Promise<z.infer<typeof policyChangeRequested>> {
  ctx.audit.teamId = input.teamId;
  requireTeamScope(actor, input.teamId);
  let change: PolicyChange;
  if (input.change.op === "create") {
    change = { op: "create", teamId: input.teamId, spec: input.change.spec };
  } else {
    const current = await ctx.db.policy.findUnique({ where: { id: input.change.policyId } });
    if (!current || current.teamId !== input.teamId)
      throw new AppError("NOT_FOUND", "No such policy (or it belongs to another team).");
    const base = input.change.baseUpdatedAt;
    if (base && base.getTime() !== current.updatedAt.getTime())
      throw new AppError(
        "CONFLICT",
        `The policy ${current.name} changed since you opened it: reload it and make your change again.`,
      );
    const baseUpdatedAt = current.updatedAt.toISOString();
    change =
      input.change.op === "update"
        ? {
            op: "update",
            teamId: input.teamId,
            policyId: current.id,
            baseUpdatedAt,
            spec: input.change.spec,
          }
        : { op: "delete", teamId: input.teamId, policyId: current.id, baseUpdatedAt, name: current.name };
  }
  const { summary } = await validatePolicyChange(ctx.db, change);
  const req = await requestApproval(ctx, {
    teamId: input.teamId,
    kind: "policy.change",
    payload: change,
    summary,
    reason: input.reason,
    target:
      change.op === "create" ? { type: "team", id: input.teamId } : { type: "policy", id: change.policyId },
  });
  ctx.audit.targetType = "approval_request";
  ctx.audit.targetId = req.id;
  ctx.audit.details = { ...ctx.audit.details, op: change.op, summary };
  return { approvalRequestId: req.id, summary, expiresAt: req.expiresAt };
}

function policyData(spec: PolicySpec) {
  const { vmIds: _, ...fields } = spec;
  return fields;
}

/** Applies an approved change in one transaction, after checking it again. */
export async function applyPolicyChange(db: Db, change: PolicyChange): Promise<{ policyId: string }> {
  return db.$transaction(async (tx) => {
    if (change.op === "create") {
      await validatePolicySpec(tx, change.teamId, change.spec);
      const created = await tx.policy.create({
        data: {
          teamId: change.teamId,
          ...policyData(change.spec),
          vms: { create: [...new Set(change.spec.vmIds)].map((vmId) => ({ vmId })) },
        },
      });
      return { policyId: created.id };
    }
    const current = await tx.policy.findUnique({ where: { id: change.policyId } });
    if (!current || current.teamId !== change.teamId)
      throw new AppError("NOT_FOUND", "The policy no longer exists.");
    if (current.updatedAt.toISOString() !== change.baseUpdatedAt)
      throw new AppError(
        "CONFLICT",
        `The policy ${current.name} changed after this request was made; nothing was applied. Ask again from its current settings.`,
      );
    if (change.op === "delete") {
      await tx.policy.delete({ where: { id: current.id } });
      return { policyId: current.id };
    }
    await validatePolicySpec(tx, change.teamId, change.spec, { policyId: current.id });
    await tx.policyVm.deleteMany({ where: { policyId: current.id } });
    await tx.policy.update({
      where: { id: current.id },
      data: {
        ...policyData(change.spec),
        vms: { create: [...new Set(change.spec.vmIds)].map((vmId) => ({ vmId })) },
      },
    });
    return { policyId: current.id };
  });
}

// What runs once another approver of the team approves a policy change.
registerApprovalExecutor(
  "policy.change",
  async ({ db, request, payload }) => {
    if (payload.teamId !== request.teamId)
      throw new AppError("FORBIDDEN", "The change is for another team than the one that approved it.");
    const { policyId } = await applyPolicyChange(db, payload);
    return { result: { op: payload.op, policyId } };
  },
  { payload: policyChange },
);

export interface ProtectedVm {
  /** Catalog VM id (vm.id). */
  id: string;
  name: string;
  engineId: string;
  engineName: string;
  /** Listed in the policy. */
  explicit: boolean;
  /** Given by "every VM of the team". */
  viaTeam: boolean;
  /** Why a run leaves it out (null: it is backed up). */
  excluded: string | null;
}

/** The VMs a policy protects (explicit ones and, when on, the team's), with the reason a run would skip one. */
export async function protectedVms(db: Db, policy: Policy): Promise<ProtectedVm[]> {
  const include = {
    engine: { select: { name: true, enabled: true } },
    teams: { where: { teamId: policy.teamId }, select: { teamId: true } },
  } as const;
  const explicit = await db.vm.findMany({ where: { policies: { some: { policyId: policy.id } } }, include });
  const team = policy.includeTeamVms
    ? await db.vm.findMany({ where: { teams: { some: { teamId: policy.teamId } } }, include })
    : [];
  const byId = new Map<string, ProtectedVm>();
  for (const [list, explicitList] of [
    [explicit, true],
    [team, false],
  ] as const) {
    for (const vm of list) {
      const seen = byId.get(vm.id);
      if (seen) {
        seen.viaTeam ||= !explicitList;
        continue;
      }
      const excluded =
        vm.teams.length === 0
          ? "It no longer belongs to the team."
          : vm.goneAt
            ? "The engine no longer lists it."
            : !vm.engine.enabled
              ? `The engine ${vm.engine.name} is disabled.`
              : null;
      byId.set(vm.id, {
        id: vm.id,
        name: vm.name,
        engineId: vm.engineId,
        engineName: vm.engine.name,
        explicit: explicitList,
        viaTeam: !explicitList,
        excluded,
      });
    }
  }
  return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}
