import { listPolicies, policyListQuery, policyListView, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const policiesListInput = policyListQuery;
export const policiesListOutput = policyListView;

/** The policies of the caller's teams (every team's for site admins), by team and name. */
export const list = procedure
  .meta({ permission: "policy:read" })
  .input(policiesListInput)
  .output(policiesListOutput)
  .query(({ ctx, input }) => listPolicies(ctx.db, requireActor(ctx), input));
