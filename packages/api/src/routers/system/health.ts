import { liveness, livenessOf } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const healthOutput = liveness;

/** Liveness for load balancers and the launcher: answers without a session. */
export const health = procedure
  .meta({ permission: "public" })
  .output(healthOutput)
  .query(({ ctx }) => livenessOf(ctx.db));
