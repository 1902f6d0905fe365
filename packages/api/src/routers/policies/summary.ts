import { protectionSummary, protectionSummaryView, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const protectionSummaryOutput = protectionSummaryView;

/** Protection at a glance for the overview: policies, runs, failures and verification results in scope. */
export const summary = procedure
  .meta({ permission: "policy:read" })
  .output(protectionSummaryOutput)
  .query(({ ctx }) => protectionSummary(ctx.db, requireActor(ctx)));
