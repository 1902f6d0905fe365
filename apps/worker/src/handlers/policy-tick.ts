import { runDueSchedules } from "@lifeboat/domain";
import type { JobHandler } from "../job-context";

/**
 * Every minute (pg-boss schedule, sent once per tick for all workers): starts the policy runs that are due and
 * records missed ones. Each run is claimed through its PolicyRun row, so a duplicate tick changes nothing.
 */
export const policyTick: JobHandler<"policy.tick"> = async ({ db, queue, settings }) => {
  const outcomes = await runDueSchedules(db, queue, settings.config.notify);
  const count = (state: string) => outcomes.filter((o) => o.state === state).length;
  return { started: count("started"), skipped: count("skipped"), missed: count("missed") };
};
