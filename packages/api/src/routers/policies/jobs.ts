import { page, policyIdInput, requireActor, requirePolicyInScope } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const policyJobsInput = z.object({
  policyId: policyIdInput,
  state: z.enum(["queued", "running", "succeeded", "failed", "cancelled"]).optional(),
  /** The id of the last job of the previous page. */
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(100).default(25),
});
export const policyJobsOutput = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      type: z.string(),
      state: z.string(),
      phase: z.string().nullable(),
      vmId: z.string().nullable(),
      vmName: z.string().nullable(),
      restorePointId: z.string().nullable(),
      error: z.string().nullable(),
      createdAt: z.date(),
      startedAt: z.date().nullable(),
      finishedAt: z.date().nullable(),
    }),
  ),
  hasMore: z.boolean(),
});

/** The jobs a policy started (backups, prunes, verifications), newest first. */
export const jobs = procedure
  .meta({ permission: "job:read" })
  .input(policyJobsInput)
  .output(policyJobsOutput)
  .query(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const policy = await requirePolicyInScope(ctx.db, actor, input.policyId);
    const rows = await ctx.db.job.findMany({
      where: { policyId: policy.id, teamId: policy.teamId, ...(input.state ? { state: input.state } : {}) },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
      take: input.limit + 1,
    });
    const { items, hasMore } = page(rows, input.limit);
    const vmIds = [...new Set(items.map((j) => j.vmId).filter((v): v is string => v !== null))];
    const vms = await ctx.db.vm.findMany({ where: { id: { in: vmIds } }, select: { id: true, name: true } });
    const names = new Map(vms.map((v) => [v.id, v.name]));
    return {
      items: items.map((j) => ({
        id: j.id,
        type: j.type,
        state: j.state,
        phase: j.phase,
        vmId: j.vmId,
        vmName: j.vmId ? (names.get(j.vmId) ?? null) : null,
        restorePointId: j.restorePointId,
        error: j.error,
        createdAt: j.createdAt,
        startedAt: j.startedAt,
        finishedAt: j.finishedAt,
      })),
      hasMore,
    };
  });
