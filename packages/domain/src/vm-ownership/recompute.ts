import type { Db, Prisma } from "@lifeboat/db";

export interface RecomputeScope {
  /** Only VMs of this engine (after an inventory refresh of that engine). */
  engineId?: string;
  /** Only this team's ownership (after its rules changed). */
  teamId?: string;
}

export interface RecomputeResult {
  added: number;
  removed: number;
}

// Serializes recomputations: two at once could each delete what the other is inserting.
const LOCK_KEY = 744_700_701;

/**
 * Derives `VmTeam` (which team owns which VM) from the teams' rules over the VM inventory:
 * - `vm`: the VM with that engine id and oVirt VM id;
 * - `tag`: every VM carrying that oVirt tag (exact name), on the rule's engine or on all engines;
 * - `name-pattern`: every VM whose name matches, `*` standing for any characters, case-insensitive, on the rule's
 *   engine or on all engines.
 * VMs that left the engine keep their owners, so that their restore points stay visible to the same teams.
 * Call it after every inventory refresh (with `engineId`) and after every rule change (with `teamId`).
 */
export async function recomputeVmTeams(db: Db, scope: RecomputeScope = {}): Promise<RecomputeResult> {
  // Large inventories take seconds: allow more than Prisma's default 5 s for this transaction.
  return db.$transaction((tx) => recomputeVmTeamsIn(tx, scope), { maxWait: 30_000, timeout: 300_000 });
}

/** The same inside the caller's transaction (e.g. together with the rule change that caused it). */
export async function recomputeVmTeamsIn(
  tx: Prisma.TransactionClient,
  scope: RecomputeScope = {},
): Promise<RecomputeResult> {
  const engineId = scope.engineId ?? null;
  const teamId = scope.teamId ?? null;
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${LOCK_KEY}::bigint)`;
  const [row] = await tx.$queryRaw<Array<{ added: bigint; removed: bigint }>>`
    WITH rules AS (
      SELECT * FROM team_vm_rule r WHERE (${teamId}::text IS NULL OR r."teamId" = ${teamId}::text)
    ),
    -- One join per rule kind: explicit VMs and tags join on equality; each name pattern is an ILIKE that the
    -- trigram index on vm.name answers (so the inventory is not compared with every pattern).
    desired AS (
      SELECT v.id AS vm_id, r."teamId" AS team_id
      FROM rules r JOIN vm v ON r."engineId" = v."engineId" AND r."vmId" = v."vmId"
      WHERE r.kind = 'vm' AND (${engineId}::text IS NULL OR v."engineId" = ${engineId}::text)
      UNION
      SELECT v.id, r."teamId"
      FROM vm v CROSS JOIN LATERAL unnest(v.tags) AS t(tag)
      JOIN rules r ON r.kind = 'tag' AND r.tag = t.tag AND (r."engineId" IS NULL OR r."engineId" = v."engineId")
      WHERE (${engineId}::text IS NULL OR v."engineId" = ${engineId}::text)
      UNION
      SELECT v.id, r."teamId"
      FROM rules r JOIN vm v
        -- Backslash is LIKE's default escape: pattern characters other than * are literal.
        ON v.name ILIKE replace(replace(replace(replace(r.pattern, '\\', '\\\\'), '%', '\\%'), '_', '\\_'), '*', '%')
      WHERE r.kind = 'name-pattern'
        AND (r."engineId" IS NULL OR r."engineId" = v."engineId")
        AND (${engineId}::text IS NULL OR v."engineId" = ${engineId}::text)
    ),
    removed AS (
      DELETE FROM vm_team vt
      USING vm v
      WHERE vt."vmId" = v.id
        AND (${engineId}::text IS NULL OR v."engineId" = ${engineId}::text)
        AND (${teamId}::text IS NULL OR vt."teamId" = ${teamId}::text)
        AND NOT EXISTS (SELECT 1 FROM desired d WHERE d.vm_id = vt."vmId" AND d.team_id = vt."teamId")
      RETURNING 1
    ),
    added AS (
      INSERT INTO vm_team ("vmId", "teamId")
      SELECT d.vm_id, d.team_id FROM desired d
      WHERE NOT EXISTS (SELECT 1 FROM vm_team vt WHERE vt."vmId" = d.vm_id AND vt."teamId" = d.team_id)
      ON CONFLICT DO NOTHING
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM added) AS added, (SELECT count(*) FROM removed) AS removed`;
  return { added: Number(row?.added ?? 0), removed: Number(row?.removed ?? 0) };
}
