import {
  AppError,
  engineAppError,
  requireActor,
  restoreEngine,
  restorePointWhere,
  withEngine,
} from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const enginesRestoreTargetsInput = z.object({
  restorePointId: z.string().min(1).max(100),
  /** The engine to read (default: the restore point's own). */
  engineId: z.string().min(1).max(100).optional(),
});
export const enginesRestoreTargetsOutput = z.object({
  engineId: z.string(),
  engineName: z.string(),
  /** Every enabled engine a restore can go to, the restore point's own marked (names only). */
  engines: z.array(z.object({ id: z.string(), name: z.string(), original: z.boolean() })),
  clusters: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      version: z.string().nullable(),
      /** The cluster the VM ran in when it was backed up. */
      original: z.boolean(),
    }),
  ),
  storageDomains: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      storageType: z.string().nullable(),
      /** Free bytes, when the engine says. */
      availableBytes: z.number().nullable(),
      /** A disk of the restore point lived here. */
      original: z.boolean(),
    }),
  ),
});

/**
 * Where a restore point can be restored to: the enabled engines, and the clusters and data storage domains of
 * the chosen one (default: the point's own), read live from it (the restore wizard's pickers). The original
 * cluster and domains are marked — on another engine, those of the same name.
 */
export const restoreTargets = procedure
  .meta({ permission: "restore:request" })
  .input(enginesRestoreTargetsInput)
  .output(enginesRestoreTargetsOutput)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const rp = await ctx.db.restorePoint.findFirst({
      where: { AND: [{ id: input.restorePointId }, restorePointWhere(actor)] },
      select: {
        engineId: true,
        clusterName: true,
        disks: { select: { storageDomainId: true, storageDomainName: true } },
      },
    });
    if (!rp) throw new AppError("NOT_FOUND", "No such restore point (or it belongs to another team).");
    const engines = await ctx.db.engine.findMany({
      where: { enabled: true },
      select: { id: true, name: true },
      orderBy: { name: "asc" },
    });
    // The point's own engine by default; when it was disabled or removed, the first one that can take it.
    const chosen =
      input.engineId ?? (engines.some((e) => e.id === rp.engineId) ? rp.engineId : engines[0]?.id);
    if (!chosen)
      throw new AppError("PRECONDITION_FAILED", "No engine is enabled: register or enable one in Settings.");
    const engine = await restoreEngine(ctx.db, rp, chosen);
    const { clusters, domains } = await withEngine(ctx.db, engine.id, async (c) => {
      try {
        return { clusters: await c.engine.clusters.list(), domains: await c.engine.storageDomains.list() };
      } catch (e) {
        throw engineAppError(e, engine.name);
      }
    });
    const originalDomains = new Set(
      rp.disks.flatMap((d) => [d.storageDomainId, d.storageDomainName]).filter((x): x is string => !!x),
    );
    return {
      engineId: engine.id,
      engineName: engine.name,
      engines: engines
        .map((e) => ({ ...e, original: e.id === rp.engineId }))
        .sort((a, b) => Number(b.original) - Number(a.original) || a.name.localeCompare(b.name)),
      clusters: clusters
        .map((c) => ({
          id: c.id,
          name: c.name,
          version: c.version ?? null,
          original: c.name === rp.clusterName,
        }))
        .sort((a, b) => Number(b.original) - Number(a.original) || a.name.localeCompare(b.name)),
      storageDomains: domains
        .filter((d) => (d.type ?? "data") === "data")
        .map((d) => ({
          id: d.id,
          name: d.name,
          storageType: d.storageType ?? null,
          availableBytes: d.available !== undefined ? Number(d.available) : null,
          original: originalDomains.has(d.id) || originalDomains.has(d.name),
        }))
        .sort((a, b) => Number(b.original) - Number(a.original) || a.name.localeCompare(b.name)),
    };
  });
