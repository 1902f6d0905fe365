import type { Prisma } from "@lifeboat/db";
import { AppError, teamRowWhere } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";
import { requireActor } from "../util";

export const auditFilters = z.object({
  /** Matches the actor's name or e-mail (part of it). */
  actor: z.string().trim().max(200).optional(),
  /** An action ("approvals.approve") or a prefix ending in a dot ("approval."). */
  action: z.string().trim().max(200).optional(),
  teamId: z.string().max(100).optional(),
  outcome: z.enum(["success", "failure", "denied"]).optional(),
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  /** Free text over action, people, target, IP and details. */
  q: z.string().trim().max(200).optional(),
});
export type AuditFilters = z.infer<typeof auditFilters>;

export const auditListInput = auditFilters.extend({
  /** `nextCursor` of the previous page. */
  cursor: z.string().max(200).optional(),
  limit: z.number().int().min(1).max(500).default(50),
});

export const auditRow = z.object({
  id: z.string(),
  at: z.date(),
  actorId: z.string().nullable(),
  actorName: z.string().nullable(),
  actorEmail: z.string().nullable(),
  teamId: z.string().nullable(),
  teamName: z.string().nullable(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  outcome: z.string(),
  details: z.unknown(),
});
export type AuditRow = z.infer<typeof auditRow>;

export const auditListOutput = z.object({ items: z.array(auditRow), nextCursor: z.string().nullable() });

function parseCursor(cursor: string): { at: Date; id: string } {
  const [at, id] = cursor.split("|");
  const date = new Date(at ?? "");
  if (!id || Number.isNaN(date.getTime())) throw new AppError("BAD_REQUEST", "That page link is not valid.");
  return { at: date, id };
}

function filterWhere(f: AuditFilters): Prisma.AuditEventWhereInput[] {
  const where: Prisma.AuditEventWhereInput[] = [];
  if (f.actor)
    where.push(
      // The trigram-indexed search text holds names and e-mails: it narrows the rows, the columns decide.
      { searchText: { contains: f.actor.toLowerCase() } },
      {
        OR: [
          { actorEmail: { contains: f.actor, mode: "insensitive" } },
          { actorName: { contains: f.actor, mode: "insensitive" } },
        ],
      },
    );
  if (f.action)
    where.push(f.action.endsWith(".") ? { action: { startsWith: f.action } } : { action: f.action });
  if (f.teamId) where.push({ teamId: f.teamId });
  if (f.outcome) where.push({ outcome: f.outcome });
  if (f.from) where.push({ at: { gte: f.from } });
  if (f.to) where.push({ at: { lte: f.to } });
  if (f.q) where.push({ searchText: { contains: f.q.toLowerCase() } });
  return where;
}

/**
 * The audit log, newest first, with keyset pagination. Site administrators see every row; team admins and
 * approvers see their teams' rows only.
 */
export const list = procedure
  .meta({ permission: "audit:read" })
  .input(auditListInput)
  .output(auditListOutput)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const after = input.cursor ? parseCursor(input.cursor) : null;
    const rows = await ctx.db.auditEvent.findMany({
      where: {
        AND: [
          teamRowWhere(actor),
          ...filterWhere(input),
          after ? { OR: [{ at: { lt: after.at } }, { at: after.at, id: { lt: after.id } }] } : {},
        ],
      },
      orderBy: [{ at: "desc" }, { id: "desc" }],
      take: input.limit + 1,
    });
    const items = rows.slice(0, input.limit);
    const teamIds = [...new Set(items.map((r) => r.teamId).filter((id): id is string => id !== null))];
    const teams = await ctx.db.team.findMany({
      where: { id: { in: teamIds } },
      select: { id: true, name: true },
    });
    const names = new Map(teams.map((t) => [t.id, t.name]));
    const last = items.at(-1);
    return {
      items: items.map((r) => ({
        id: r.id,
        at: r.at,
        actorId: r.actorId,
        actorName: r.actorName,
        actorEmail: r.actorEmail,
        teamId: r.teamId,
        teamName: r.teamId ? (names.get(r.teamId) ?? null) : null,
        action: r.action,
        targetType: r.targetType,
        targetId: r.targetId,
        ip: r.ip,
        userAgent: r.userAgent,
        outcome: r.outcome,
        details: r.details,
      })),
      nextCursor: rows.length > input.limit && last ? `${last.at.toISOString()}|${last.id}` : null,
    };
  });
