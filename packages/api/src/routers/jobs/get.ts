import { jobView, requireActor, visibleJob } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const jobGetInput = z.object({ id: z.string().uuid() });
export const jobOutput = jobView;

/**
 * One job with its progress (phase, bytes, rate, heartbeat) and leftovers, if it belongs to one of the caller's
 * teams (or to the site, for site admins).
 */
export const get = procedure
  .meta({ permission: "job:read" })
  .input(jobGetInput)
  .output(jobOutput)
  .query(({ ctx, input }) => visibleJob(ctx.db, requireActor(ctx), input.id));
