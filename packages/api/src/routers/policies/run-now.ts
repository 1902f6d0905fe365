import { policyIdInput, requireActor, requirePolicyInScope, runPolicyNow } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const runNowInput = z.object({
  policyId: policyIdInput,
  kind: z.enum(["backup", "verify"]).default("backup"),
});
export const runNowOutput = z.object({
  runId: z.string(),
  state: z.enum(["started", "skipped"]),
  jobIds: z.array(z.string()),
  skipped: z.array(z.object({ vmName: z.string(), reason: z.string() })),
});

/** Starts the policy's backup (or verify) run now, outside its schedule (operators and admins). */
export const runNow = procedure
  .meta({ permission: "backup:create" })
  .input(runNowInput)
  .output(runNowOutput)
  .mutation(async ({ ctx, input }) => {
    const actor = requireActor(ctx);
    const policy = await requirePolicyInScope(ctx.db, actor, input.policyId);
    ctx.audit.teamId = policy.teamId;
    ctx.audit.targetType = "policy";
    ctx.audit.targetId = policy.id;
    const run = await runPolicyNow(ctx.db, ctx.queue, policy, input.kind, {
      userId: actor.userId,
      name: actor.name,
    });
    ctx.audit.details = {
      policy: policy.name,
      kind: input.kind,
      runId: run.runId,
      jobs: run.details.jobs.length,
    };
    return {
      runId: run.runId,
      state: run.state,
      jobIds: run.details.jobs.map((j) => j.jobId),
      skipped: run.details.skipped.map((s) => ({ vmName: s.vmName, reason: s.reason })),
    };
  });
