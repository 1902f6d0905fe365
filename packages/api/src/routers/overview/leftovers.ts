import { AppError, teamRowWhere } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";
import { requireActor } from "../util";

export const leftoverItem = z.object({
  id: z.string(),
  jobId: z.string(),
  jobType: z.string(),
  engineId: z.string(),
  engineName: z.string(),
  /** snapshot | image_transfer | disk | vm */
  kind: z.string(),
  objectId: z.string(),
  description: z.string(),
  createdAt: z.date(),
  resolvedAt: z.date().nullable(),
  resolvedBy: z.string().nullable(),
});

export const leftoversListInput = z
  .object({
    includeResolved: z.boolean().default(false),
    limit: z.number().int().min(1).max(200).default(50),
  })
  .default({ includeResolved: false, limit: 50 });

/**
 * What jobs created on an engine and could not remove (snapshots, transfers, disks), newest first: the operator
 * removes them on the engine, then marks them resolved here.
 */
export const leftovers = procedure
  .meta({ permission: "job:read" })
  .input(leftoversListInput)
  .output(z.array(leftoverItem))
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const rows = await ctx.db.leftover.findMany({
      where: { job: teamRowWhere(actor), ...(input.includeResolved ? {} : { resolvedAt: null }) },
      include: { job: { select: { type: true } } },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: input.limit,
    });
    const engines = new Map(
      (await ctx.db.engine.findMany({ select: { id: true, name: true } })).map((e) => [e.id, e.name]),
    );
    return rows.map((l) => ({
      id: l.id,
      jobId: l.jobId,
      jobType: l.job.type,
      engineId: l.engineId,
      engineName: engines.get(l.engineId) ?? "(engine removed)",
      kind: l.kind,
      objectId: l.objectId,
      description: l.description,
      createdAt: l.createdAt,
      resolvedAt: l.resolvedAt,
      resolvedBy: l.resolvedBy,
    }));
  });

export const resolveLeftoverInput = z.object({ id: z.string().uuid() });

/** Marks a leftover resolved (after removing it on the engine): it leaves the overview's attention list. */
export const resolveLeftover = procedure
  .meta({ permission: "job:cancel" })
  .input(resolveLeftoverInput)
  .output(z.object({ id: z.string(), resolvedAt: z.date() }))
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const row = await ctx.db.leftover.findFirst({
      where: { id: input.id, job: teamRowWhere(actor) },
      include: { job: { select: { teamId: true } } },
    });
    if (!row) throw new AppError("NOT_FOUND", "No such leftover (or it belongs to another team).");
    ctx.audit.teamId = row.job.teamId ?? undefined;
    ctx.audit.targetType = "leftover";
    ctx.audit.targetId = row.id;
    ctx.audit.details = { kind: row.kind, objectId: row.objectId, engineId: row.engineId };
    if (row.resolvedAt) throw new AppError("CONFLICT", "This leftover was resolved already.");
    const resolvedAt = new Date();
    await ctx.db.leftover.update({
      where: { id: row.id },
      data: { resolvedAt, resolvedBy: `${actor.name} <${actor.email}>` },
    });
    return { id: row.id, resolvedAt };
  });
