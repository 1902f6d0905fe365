import type { Db, TeamVmRule } from "@lifeboat/db";
import { z } from "zod";
import { registerApprovalExecutor } from "../approvals/registry";
import { AppError } from "../errors";
import { recomputeVmTeamsIn } from "./recompute";

const engineRef = z.string().trim().min(1).max(100);

/** A rule by which a team owns VMs. */
export const vmRuleInput = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("vm"), engineId: engineRef, vmId: z.string().trim().min(1).max(100) }),
  z.object({ kind: z.literal("tag"), engineId: engineRef.nullish(), tag: z.string().trim().min(1).max(200) }),
  z.object({
    kind: z.literal("name-pattern"),
    engineId: engineRef.nullish(),
    pattern: z.string().trim().min(1).max(200),
  }),
]);
export type VmRuleInput = z.infer<typeof vmRuleInput>;

/** A change of a team's VM assignments, as it waits in an approval request (kind "team.assignment"). */
export const vmRuleChange = z.discriminatedUnion("op", [
  z.object({ op: z.literal("add"), teamId: z.string().min(1), rule: vmRuleInput }),
  z.object({ op: z.literal("remove"), teamId: z.string().min(1), ruleId: z.string().min(1) }),
]);
export type VmRuleChange = z.infer<typeof vmRuleChange>;

type RuleLike = Pick<TeamVmRule, "kind" | "engineId" | "vmId" | "tag" | "pattern">;

/** The rule in words, as people read it in requests and on the team page. */
export function describeVmRule(rule: RuleLike | VmRuleInput, engineName?: string | null): string {
  const r = rule as Partial<RuleLike> & { kind: string };
  const on = r.engineId ? ` on ${engineName ?? "engine"}` : " on every engine";
  if (r.kind === "vm") return `the VM with id ${r.vmId}${on}`;
  if (r.kind === "tag") return `every VM tagged "${r.tag}"${on}`;
  return `every VM whose name matches "${r.pattern}"${on}`;
}

/** How many inventory VMs a rule would give the team now (shown to approvers). */
export async function countRuleMatches(db: Db, rule: VmRuleInput): Promise<number> {
  const engineId = rule.engineId ?? null;
  if (rule.kind === "vm") return db.vm.count({ where: { engineId: rule.engineId, vmId: rule.vmId } });
  if (rule.kind === "tag")
    return db.vm.count({ where: { tags: { has: rule.tag }, ...(engineId ? { engineId } : {}) } });
  const [row] = await db.$queryRaw<Array<{ n: bigint }>>`
    SELECT count(*) AS n FROM vm v
    WHERE (${engineId}::text IS NULL OR v."engineId" = ${engineId}::text)
      AND v.name ILIKE replace(replace(replace(replace(${rule.pattern}::text, '\\', '\\\\'), '%', '\\%'), '_', '\\_'), '*', '%')`;
  return Number(row?.n ?? 0);
}

/** Checks that a change makes sense before it is put to approvers. */
export async function validateVmRuleChange(db: Db, change: VmRuleChange): Promise<{ summary: string }> {
  const team = await db.team.findUnique({ where: { id: change.teamId }, select: { name: true } });
  if (!team) throw new AppError("NOT_FOUND", "No such team.");
  if (change.op === "add") {
    const engine = change.rule.engineId
      ? await db.engine.findUnique({ where: { id: change.rule.engineId }, select: { name: true } })
      : null;
    if (change.rule.engineId && !engine) throw new AppError("BAD_REQUEST", "No such engine.");
    const matches = await countRuleMatches(db, change.rule);
    const words = describeVmRule(change.rule, engine?.name);
    return {
      summary: `Give team ${team.name} ${words} (${matches} VM${matches === 1 ? "" : "s"} in the inventory now)`,
    };
  }
  const rule = await db.teamVmRule.findUnique({ where: { id: change.ruleId } });
  if (!rule || rule.teamId !== change.teamId) throw new AppError("NOT_FOUND", "No such rule in this team.");
  const engine = rule.engineId
    ? await db.engine.findUnique({ where: { id: rule.engineId }, select: { name: true } })
    : null;
  return { summary: `Take ${describeVmRule(rule, engine?.name)} away from team ${team.name}` };
}

// What runs once another approver of the team approves a VM-rule change: the rule change and the ownership it
// implies, in one transaction.
registerApprovalExecutor(
  "team.assignment",
  async ({ db, request, payload, requester }) => {
    if (payload.teamId !== request.teamId)
      throw new AppError("FORBIDDEN", "The change is for another team than the one that approved it.");
    return db.$transaction(async (tx) => {
      let ruleId: string;
      if (payload.op === "add") {
        const created = await tx.teamVmRule.create({
          data: {
            teamId: payload.teamId,
            kind: payload.rule.kind,
            engineId: payload.rule.engineId ?? null,
            vmId: payload.rule.kind === "vm" ? payload.rule.vmId : null,
            tag: payload.rule.kind === "tag" ? payload.rule.tag : null,
            pattern: payload.rule.kind === "name-pattern" ? payload.rule.pattern : null,
            createdBy: requester.userId,
          },
        });
        ruleId = created.id;
      } else {
        const gone = await tx.teamVmRule.deleteMany({
          where: { id: payload.ruleId, teamId: payload.teamId },
        });
        if (gone.count !== 1) throw new AppError("NOT_FOUND", "The rule no longer exists.");
        ruleId = payload.ruleId;
      }
      const { added, removed } = await recomputeVmTeamsIn(tx, { teamId: payload.teamId });
      return { result: { op: payload.op, ruleId, vmsAdded: added, vmsRemoved: removed } };
    });
  },
  { payload: vmRuleChange },
);
