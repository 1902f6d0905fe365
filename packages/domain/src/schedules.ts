import { Cron } from "croner";
import cronstrue from "cronstrue";
import { z } from "zod";
import { AppError } from "./errors";
import { isValidTimeZone } from "./retention";

/**
 * Policy schedules: cron expressions (5 fields, or 6 with a fixed seconds field first) evaluated in the policy's
 * IANA time zone by croner. At a spring-forward gap a time that does not exist runs at the first minute after
 * the gap (02:30 → 03:00); at a fall-back a fixed time runs once, a wildcard hour runs for each real hour.
 * Pure: no database, no clock (callers pass `now`).
 */

const NICKNAMES = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"]);

/** The croner job for a policy schedule, or BAD_REQUEST with the words an operator needs to fix it. */
export function parseSchedule(expression: string, timeZone: string, now = new Date()): Cron {
  const expr = expression.trim();
  if (!expr)
    throw new AppError("BAD_REQUEST", "The schedule is empty: give a cron expression such as 30 2 * * *.");
  if (expr.length > 200)
    throw new AppError("BAD_REQUEST", "The schedule is too long (200 characters at most).");
  if (!isValidTimeZone(timeZone))
    throw new AppError(
      "BAD_REQUEST",
      `Unknown time zone "${timeZone}": use an IANA name such as Europe/Berlin, America/New_York or UTC.`,
    );
  if (expr.startsWith("@")) {
    if (!NICKNAMES.has(expr.toLowerCase()))
      throw new AppError(
        "BAD_REQUEST",
        `Unknown schedule "${expr}": use @hourly, @daily, @weekly, @monthly or @yearly.`,
      );
  } else {
    const fields = expr.split(/\s+/);
    if (fields.length !== 5 && fields.length !== 6)
      throw new AppError(
        "BAD_REQUEST",
        `"${expr}" has ${fields.length} field(s); a cron expression has 5 (minute hour day month weekday), or 6 with seconds first.`,
      );
    // A backup schedule never needs to run more often than once a minute.
    if (fields.length === 6 && !/^\d{1,2}$/.test(fields[0] ?? ""))
      throw new AppError(
        "BAD_REQUEST",
        `"${expr}" would run more than once a minute: make the seconds field a number.`,
      );
  }
  let cron: Cron;
  try {
    cron = new Cron(expr, { timezone: timeZone, paused: true });
  } catch (e) {
    throw new AppError("BAD_REQUEST", `"${expr}" is not a valid cron expression: ${messageOf(e)}.`);
  }
  if (!cron.nextRun(now))
    throw new AppError("BAD_REQUEST", `"${expr}" never runs (no such date in the future).`);
  return cron;
}

/** The schedule in words (cronstrue), e.g. "At 02:30, Monday through Friday (Europe/Berlin)". */
export function scheduleInWords(expression: string, timeZone: string): string {
  let words: string;
  try {
    words = cronstrue.toString(expression.trim(), {
      use24HourTimeFormat: true,
      throwExceptionOnParseError: true,
      verbose: false,
    });
  } catch {
    words = expression.trim();
  }
  return `${words} (${timeZone})`;
}

export interface ScheduleDescription {
  words: string;
  /** The next runs after `now`, oldest first. */
  nextRuns: Date[];
}

/** Words and the next `count` run times of a schedule (throws BAD_REQUEST like parseSchedule). */
export function describeSchedule(
  expression: string,
  timeZone: string,
  now = new Date(),
  count = 5,
): ScheduleDescription {
  const cron = parseSchedule(expression, timeZone, now);
  return { words: scheduleInWords(expression, timeZone), nextRuns: cron.nextRuns(count, now) };
}

export const scheduleQuery = z.object({
  schedule: z.string().max(200),
  timezone: z.string().max(64),
  count: z.number().int().min(1).max(20).default(5),
});
export type ScheduleQuery = z.infer<typeof scheduleQuery>;

export const scheduleCheck = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), words: z.string(), nextRuns: z.array(z.date()) }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);
export type ScheduleCheck = z.infer<typeof scheduleCheck>;

/** A schedule as a form types it: in words with its next runs, or why it does not parse (not an error). */
export function checkSchedule(input: ScheduleQuery, now = new Date()): ScheduleCheck {
  try {
    return { ok: true, ...describeSchedule(input.schedule, input.timezone, now, input.count) };
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    return { ok: false, error: e.message };
  }
}

/** The next run after `now`, or null for an invalid schedule (stored schedules were validated on the way in). */
export function nextRunOf(expression: string, timeZone: string, now = new Date()): Date | null {
  try {
    return parseSchedule(expression, timeZone, now).nextRun(now);
  } catch {
    return null;
  }
}

export interface PlannedTick {
  scheduledFor: Date;
  /** run: start it now; missed: record that it did not run. */
  action: "run" | "missed";
  /** Why a tick is missed, in words. */
  reason?: string;
  /** A missed tick that a newer run covers (it was still inside its window, but only the newest runs). */
  coveredBy?: Date;
}

export interface TickPlan {
  /** Oldest first. */
  ticks: PlannedTick[];
  /** Ticks older than the oldest planned one that were also missed (not recorded one by one). */
  earlierMissed: number;
}

/**
 * The ticks of a schedule in (after, now], and what to do with each. Only the newest tick can run, and only
 * while `now` is inside its window (windowMinutes after it); older ticks are missed — they fell while no worker
 * was running, and one run covers them. At most `limit` ticks are returned; older ones are counted.
 */
export function planTicks(opts: {
  schedule: string;
  timeZone: string;
  after: Date;
  now: Date;
  windowMinutes: number;
  limit?: number;
}): TickPlan {
  const { after, now, windowMinutes } = opts;
  const limit = opts.limit ?? 50;
  if (now <= after) return { ticks: [], earlierMissed: 0 };
  const cron = parseSchedule(opts.schedule, opts.timeZone, after);
  // croner's previousRuns excludes its start; a tick exactly at `now` is due.
  const recent = cron
    .previousRuns(limit + 1, new Date(now.getTime() + 1))
    .filter((t) => t > after)
    .reverse();
  let earlierMissed = 0;
  if (recent.length > limit) {
    recent.shift();
    earlierMissed = countTicks(cron, after, recent[0] ?? now);
  }
  const windowMs = windowMinutes * 60_000;
  const newest = recent.at(-1);
  const newestRuns = newest !== undefined && now.getTime() - newest.getTime() <= windowMs;
  const ticks = recent.map((t): PlannedTick => {
    if (t === newest && newestRuns) return { scheduledFor: t, action: "run" };
    if (now.getTime() - t.getTime() > windowMs)
      return {
        scheduledFor: t,
        action: "missed",
        reason: `No worker was running between ${t.toISOString()} and the end of its ${windowMinutes}-minute window.`,
      };
    return {
      scheduledFor: t,
      action: "missed",
      reason: `No worker was running at ${t.toISOString()}; the run scheduled for ${newest?.toISOString()} covers it.`,
      ...(newest ? { coveredBy: newest } : {}),
    };
  });
  return { ticks, earlierMissed };
}

/** Ticks in (after, before), bounded so that a long outage with a per-minute schedule stays cheap. */
function countTicks(cron: Cron, after: Date, before: Date): number {
  let n = 0;
  let t = cron.nextRun(after);
  while (t && t < before && n < 100_000) {
    n++;
    t = cron.nextRun(t);
  }
  return n;
}

function messageOf(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/^CronPattern:\s*/, "").replace(/\.$/, "");
}
