import { z } from "zod";
import { procedure } from "../../trpc";

export const healthOutput = z.object({ ok: z.boolean(), database: z.boolean() });

/** Liveness for load balancers and the launcher: answers without a session. */
export const health = procedure
  .meta({ permission: "public" })
  .output(healthOutput)
  .query(async ({ ctx }) => {
    const database = await ctx.db.$queryRaw`select 1`.then(
      () => true,
      () => false,
    );
    return { ok: database, database };
  });
