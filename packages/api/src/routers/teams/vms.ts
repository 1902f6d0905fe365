import { page, requireActor, requireTeamScope, teamIdInput } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const teamsVmsInput = z.object({
  teamId: teamIdInput,
  search: z.string().trim().max(200).optional(),
  /** The id of the last VM of the previous page. */
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export const teamsVmsOutput = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      engineId: z.string(),
      engineName: z.string(),
      vmId: z.string(),
      name: z.string(),
      status: z.string().nullable(),
      tags: z.array(z.string()),
      gone: z.boolean(),
    }),
  ),
  hasMore: z.boolean(),
});

/** The VMs the team's rules give it (what its members see and act on). */
export const vms = procedure
  .meta({ permission: "vm:read" })
  .input(teamsVmsInput)
  .output(teamsVmsOutput)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    requireTeamScope(actor, input.teamId);
    const rows = await ctx.db.vm.findMany({
      where: {
        teams: { some: { teamId: input.teamId } },
        ...(input.search ? { name: { contains: input.search, mode: "insensitive" } } : {}),
      },
      include: { engine: { select: { name: true } } },
      orderBy: [{ name: "asc" }, { id: "asc" }],
      ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
      take: input.limit + 1,
    });
    const { items, hasMore } = page(rows, input.limit);
    return {
      items: items.map((v) => ({
        id: v.id,
        engineId: v.engineId,
        engineName: v.engine.name,
        vmId: v.vmId,
        name: v.name,
        status: v.status,
        tags: v.tags,
        gone: v.goneAt !== null,
      })),
      hasMore,
    };
  });
