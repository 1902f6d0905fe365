import {
  remeasureRepository,
  repositoryMeasuredView,
  repositoryStatus,
  repositoryStatusView,
  requireActor,
} from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const settingsRepositoryOutput = repositoryStatusView;

/** Repository status for site administrators: size over time, verification state, the last verify and gc jobs. */
export const repository = procedure
  .meta({ permission: "site:diagnostics" })
  .output(settingsRepositoryOutput)
  .query(({ ctx }) => repositoryStatus(ctx, requireActor(ctx)));

/** Measures the repository now (lists every chunk) and records an exact usage sample. */
export const measureRepositoryNow = procedure
  .meta({ permission: "site:diagnostics" })
  .output(repositoryMeasuredView)
  .mutation(({ ctx }) => remeasureRepository(ctx, requireActor(ctx)));
