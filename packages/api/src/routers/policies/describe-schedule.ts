import { AppError, describeSchedule as describe } from "@lifeboat/domain";
import { z } from "zod";
import { procedure } from "../../trpc";

export const describeScheduleInput = z.object({
  schedule: z.string().max(200),
  timezone: z.string().max(64),
  count: z.number().int().min(1).max(20).default(5),
});
export const describeScheduleOutput = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), words: z.string(), nextRuns: z.array(z.date()) }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);

/** A cron expression in words and its next run times in a zone, as the policy form types it (no team data). */
export const describeSchedule = procedure
  .meta({ permission: "authenticated" })
  .input(describeScheduleInput)
  .output(describeScheduleOutput)
  .query(({ input }) => {
    try {
      return { ok: true as const, ...describe(input.schedule, input.timezone, new Date(), input.count) };
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      return { ok: false as const, error: e.message };
    }
  });
