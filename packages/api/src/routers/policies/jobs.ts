import { policyJobs, policyJobsQuery, policyJobsView, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const policyJobsInput = policyJobsQuery;
export const policyJobsOutput = policyJobsView;

/** The jobs a policy started (backups, prunes, verifications), newest first. */
export const jobs = procedure
  .meta({ permission: "job:read" })
  .input(policyJobsInput)
  .output(policyJobsOutput)
  .query(({ ctx, input }) => policyJobs(ctx.db, requireActor(ctx), input));
