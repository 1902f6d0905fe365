import { overviewSummary, overviewSummaryView, requireActor } from "@lifeboat/domain";
import { procedure } from "../../trpc";

/**
 * The overview: engines, protected vs unprotected VMs, jobs of the last day by outcome, repository usage and
 * backups over time, failures and leftovers that need attention — all scoped to what the caller may see (any
 * signed-in user; someone in no team sees zeros and the first steps).
 */
export const summary = procedure
  .meta({ permission: "authenticated" })
  .output(overviewSummaryView)
  .query(({ ctx }) => overviewSummary(ctx.db, requireActor(ctx)));
