import { Prisma } from "@lifeboat/db";
import { requireActor, vmInScopeSql, vmWhere } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const restorePointsFacetsOutput = z.object({
  engines: z.array(z.object({ id: z.string(), name: z.string() })),
  /** VMs with restore points (the VM filter's choices), by name. */
  vms: z.array(z.object({ id: z.string(), name: z.string(), engineName: z.string() })),
  /** Backup tags of the latest restore points. */
  tags: z.array(z.string()),
});

const MAX_VMS = 2000;
/** Tags are read from this many newest restore points (a distinct over the whole catalog would scan it). */
const TAG_SAMPLE = 2000;

/** The choices of the catalog's filters, within the caller's scope. */
export const facets = procedure
  .meta({ permission: "restore-point:read" })
  .output(restorePointsFacetsOutput)
  .query(async ({ ctx }) => {
    const actor = requireActor(ctx);
    const vms = await ctx.db.vm.findMany({
      where: { AND: [vmWhere(actor), { restorePoints: { some: {} } }] },
      select: { id: true, name: true, engine: { select: { id: true, name: true } } },
      orderBy: [{ name: "asc" }, { id: "asc" }],
      take: MAX_VMS,
    });
    const engines = new Map<string, string>();
    for (const v of vms) engines.set(v.engine.id, v.engine.name);
    if (actor.siteAdmin)
      for (const e of await ctx.db.engine.findMany({ select: { id: true, name: true } }))
        engines.set(e.id, e.name);
    const tags = await ctx.db.$queryRaw<Array<{ tag: string }>>`
      SELECT DISTINCT unnest(s.tags) AS tag FROM (
        SELECT rp.tags FROM restore_point rp WHERE ${vmInScopeSql(actor, Prisma.raw('rp."vmId"'))}
        ORDER BY rp."createdAt" DESC LIMIT ${TAG_SAMPLE}) s
      ORDER BY tag LIMIT 200`;
    return {
      engines: [...engines].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name)),
      vms: vms.map((v) => ({ id: v.id, name: v.name, engineName: v.engine.name })),
      tags: tags.map((t) => t.tag),
    };
  });
