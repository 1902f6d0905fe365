import { serviceHealth } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const servicesOutput = z.object({
  database: z.boolean(),
  liveWorkers: z.number(),
  lastWorkerSeenAt: z.date().nullable(),
  services: z.array(
    z.object({
      host: z.string(),
      name: z.string(),
      state: z.string(),
      restarts: z.number(),
      lastExitReason: z.string().nullable(),
      lastExitAt: z.date().nullable(),
    }),
  ),
  problems: z.array(z.string()),
});

/** The processes behind Lifeboat (workers, supervised services) for the admins' banner on the overview. */
export const services = procedure
  .meta({ permission: "site:diagnostics" })
  .output(servicesOutput)
  .query(({ ctx }) => serviceHealth(ctx.db));
