import { checkSchedule, scheduleCheck, scheduleQuery } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const describeScheduleInput = scheduleQuery;
export const describeScheduleOutput = scheduleCheck;

/** A cron expression in words and its next run times in a zone, as the policy form types it (no team data). */
export const describeSchedule = procedure
  .meta({ permission: "authenticated" })
  .input(describeScheduleInput)
  .output(describeScheduleOutput)
  .query(({ input }) => checkSchedule(input));
