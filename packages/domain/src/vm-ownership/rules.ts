import { type Db, Prisma, type TeamVmRule } from "@lifeboat/db";
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

/** Other teams' VMs an added rule would give the team too (what their approvers are shown). */
export const otherTeamVms = z.object({
  teamId: z.string(),
  teamName: z.string(),
  vmCount: z.number().int(),
  /** The first of them, by name. */
  vms: z.array(z.object({ id: z.string(), name: z.string() })),
});
export type OtherTeamVms = z.infer<typeof otherTeamVms>;

/** A change of a team's VM assignments, as it waits in an approval request (kind "team.assignment"). */
export const vmRuleChange = z.discriminatedUnion("op", [
  z.object({
    op: z.literal("add"),
    teamId: z.string().min(1),
    rule: vmRuleInput,
    /** Filled in when the request is filed: the other teams whose VMs the rule matches then. */
    otherTeams: z.array(otherTeamVms).optional(),
  }),
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

/** The VMs (`vm v`) a rule matches, as SQL: the same matching as `recomputeVmTeams`. */
function ruleMatchSql(rule: VmRuleInput): Prisma.Sql {
  const engineId = rule.engineId ?? null;
  const onEngine = Prisma.sql`(${engineId}::text IS NULL OR v."engineId" = ${engineId}::text)`;
  if (rule.kind === "vm") return Prisma.sql`v."engineId" = ${rule.engineId} AND v."vmId" = ${rule.vmId}`;
  if (rule.kind === "tag") return Prisma.sql`${rule.tag}::text = ANY(v.tags) AND ${onEngine}`;
  return Prisma.sql`${onEngine}
    AND v.name ILIKE replace(replace(replace(replace(${rule.pattern}::text, '\\', '\\\\'), '%', '\\%'), '_', '\\_'), '*', '%')`;
}

/** How many inventory VMs a rule would give the team now (shown to approvers). */
export async function countRuleMatches(
  db: Db | Prisma.TransactionClient,
  rule: VmRuleInput,
): Promise<number> {
  const [row] = await db.$queryRaw<Array<{ n: bigint }>>`
    SELECT count(*) AS n FROM vm v WHERE ${ruleMatchSql(rule)}`;
  return Number(row?.n ?? 0);
}

/** VM names listed per other team (the count says how many there are in all). */
const LISTED_VMS = 20;

/**
 * The other teams owning VMs that a rule would give `teamId` now (VMs the team does not own yet), by team name:
 * such a rule shares another team's VMs, so a site administrator or that team's admin must decide it.
 */
export async function otherTeamsMatched(
  db: Db | Prisma.TransactionClient,
  rule: VmRuleInput,
  teamId: string,
): Promise<OtherTeamVms[]> {
  const rows = await db.$queryRaw<
    Array<{ team_id: string; team_name: string; id: string; name: string; n: bigint }>
  >`
    SELECT * FROM (
      SELECT vt."teamId" AS team_id, t.name AS team_name, v.id, v.name,
             count(*) OVER (PARTITION BY vt."teamId") AS n,
             row_number() OVER (PARTITION BY vt."teamId" ORDER BY v.name, v.id) AS i
      FROM vm v JOIN vm_team vt ON vt."vmId" = v.id JOIN team t ON t.id = vt."teamId"
      WHERE ${ruleMatchSql(rule)} AND vt."teamId" <> ${teamId}
        AND NOT EXISTS (SELECT 1 FROM vm_team mine WHERE mine."vmId" = v.id AND mine."teamId" = ${teamId})
    ) x WHERE i <= ${LISTED_VMS}
    ORDER BY team_name, team_id, i`;
  const byTeam = new Map<string, OtherTeamVms>();
  for (const r of rows) {
    const team = byTeam.get(r.team_id) ?? {
      teamId: r.team_id,
      teamName: r.team_name,
      vmCount: Number(r.n),
      vms: [],
    };
    team.vms.push({ id: r.id, name: r.name });
    byTeam.set(r.team_id, team);
  }
  return [...byTeam.values()];
}

/** "3 VMs of team Billing (db-1, db-2, db-3)" */
function describeOtherTeams(teams: OtherTeamVms[]): string {
  return teams
    .map((t) => {
      const names = t.vms.slice(0, 5).map((v) => v.name);
      const more = t.vmCount > names.length ? ", …" : "";
      return `${t.vmCount} VM${t.vmCount === 1 ? "" : "s"} of team ${t.teamName} (${names.join(", ")}${more})`;
    })
    .join("; ");
}

/**
 * Checks that a change makes sense before it is put to approvers, and says what it touches: an added rule's
 * matches owned by other teams (`otherTeams`, empty when none).
 */
export async function validateVmRuleChange(
  db: Db,
  change: VmRuleChange,
): Promise<{ summary: string; otherTeams: OtherTeamVms[] }> {
  const team = await db.team.findUnique({ where: { id: change.teamId }, select: { name: true } });
  if (!team) throw new AppError("NOT_FOUND", "No such team.");
  if (change.op === "add") {
    const engine = change.rule.engineId
      ? await db.engine.findUnique({ where: { id: change.rule.engineId }, select: { name: true } })
      : null;
    if (change.rule.engineId && !engine) throw new AppError("BAD_REQUEST", "No such engine.");
    const matches = await countRuleMatches(db, change.rule);
    const otherTeams = await otherTeamsMatched(db, change.rule, change.teamId);
    const words = describeVmRule(change.rule, engine?.name);
    const others = otherTeams.length > 0 ? `, among them ${describeOtherTeams(otherTeams)}` : "";
    return {
      summary: `Give team ${team.name} ${words} (${matches} VM${matches === 1 ? "" : "s"} in the inventory now${others})`,
      otherTeams,
    };
  }
  const rule = await db.teamVmRule.findUnique({ where: { id: change.ruleId } });
  if (!rule || rule.teamId !== change.teamId) throw new AppError("NOT_FOUND", "No such rule in this team.");
  const engine = rule.engineId
    ? await db.engine.findUnique({ where: { id: rule.engineId }, select: { name: true } })
    : null;
  return {
    summary: `Take ${describeVmRule(rule, engine?.name)} away from team ${team.name}`,
    otherTeams: [],
  };
}

// What runs once a VM-rule change is approved (by another approver of the team; by a site administrator or the
// other teams' admins when it shares their VMs): the rule change and the ownership it implies, in one
// transaction. A rule that now matches VMs of a team its deciders were not shown is refused.
registerApprovalExecutor(
  "team.assignment",
  async ({ db, request, payload, requester }) => {
    if (payload.teamId !== request.teamId)
      throw new AppError("FORBIDDEN", "The change is for another team than the one that approved it.");
    return db.$transaction(async (tx) => {
      let ruleId: string;
      if (payload.op === "add") {
        const unseen = (await otherTeamsMatched(tx, payload.rule, payload.teamId)).filter(
          (t) => !request.otherTeamIds.includes(t.teamId),
        );
        if (unseen.length > 0)
          throw new AppError(
            "CONFLICT",
            `The rule now also matches ${describeOtherTeams(unseen)}, which this request did not show; ask again.`,
          );
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
