import { liveness, livenessOf } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const healthOutput = liveness;

/** Liveness for load balancers (the database and a live worker; 503 otherwise, see http/trpc.ts): no session. */
export const health = procedure
  .meta({ permission: "public" })
  .output(healthOutput)
  .query(({ ctx }) => livenessOf(ctx.db));
