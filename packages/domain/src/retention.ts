/**
 * Retention (prune) in the Proxmox Backup Server model: keep-last, then keep-hourly / daily / weekly / monthly /
 * yearly, in that order. Pure: no database, no clock.
 *
 * The rules run newest first. A rule keeps the newest point of each calendar bucket (hour, day, ISO week, month,
 * year in the policy's time zone) until it has kept `count` buckets; a newer point of a bucket it kept makes the
 * older ones of that bucket go. Buckets that an earlier rule already covers are not counted again ("each option
 * only covers backups within its time period; the next option only considers older backups"). Buckets without
 * backups do not count. Pinned points are always kept and never fill a bucket. Points no rule keeps go. With every
 * count at zero, only pinned points stay (unlike PBS, where no option at all means keep everything).
 *
 * Hours are real hours: the hour a fall-back repeats (01:00–02:00 twice) is two buckets, told apart by their UTC
 * offset. Days, weeks, months and years follow the wall calendar of the zone, so a 23- or 25-hour day is one day.
 */

export const RETENTION_RULES = ["last", "hourly", "daily", "weekly", "monthly", "yearly"] as const;
export type RetentionRule = (typeof RETENTION_RULES)[number];

export interface RetentionRules {
  keepLast: number;
  keepHourly: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  keepYearly: number;
}

export interface RetentionPoint {
  id: string;
  createdAt: Date;
  pinned: boolean;
}

export type RetentionDecision =
  | {
      id: string;
      createdAt: Date;
      keep: true;
      /** What keeps it. */
      rule: RetentionRule | "pinned";
      /** The calendar bucket it stands for, e.g. "2026-03-29" (daily) or "2026-W13" (weekly); null for last/pinned. */
      bucket: string | null;
    }
  | {
      id: string;
      createdAt: Date;
      keep: false;
      rule: null;
      bucket: null;
      /** A newer point of the same bucket that a rule keeps instead (absent when it is simply beyond retention). */
      supersededBy: { id: string; rule: RetentionRule; bucket: string | null } | null;
    };

const COUNT_OF: Record<RetentionRule, keyof RetentionRules> = {
  last: "keepLast",
  hourly: "keepHourly",
  daily: "keepDaily",
  weekly: "keepWeekly",
  monthly: "keepMonthly",
  yearly: "keepYearly",
};

/** Wall-clock fields of an instant in a zone. */
interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  /** Minutes east of UTC at that instant. */
  offset: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat("en-US", {
        timeZone,
        hourCycle: "h23",
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      });
    } catch {
      throw new RangeError(`unknown time zone "${timeZone}" (use an IANA name such as Europe/Berlin or UTC)`);
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is an IANA zone name this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

export function wallTime(at: Date, timeZone: string): WallTime {
  const ms = at.getTime();
  if (!Number.isFinite(ms)) throw new RangeError("invalid date");
  const fields: Record<string, number> = {};
  for (const p of formatterFor(timeZone).formatToParts(at))
    if (p.type !== "literal" && p.type !== "era") fields[p.type] = Number(p.value);
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = fields;
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  const offset = Math.round((asUtc - (ms - (((ms % 1000) + 1000) % 1000))) / 60_000);
  return { year, month, day, hour, offset };
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function offsetText(minutes: number): string {
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** ISO 8601 week of a calendar date: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  // The Thursday of the same week decides the week-based year.
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const isoYear = date.getUTCFullYear();
  const dayOfYear = (date.getTime() - Date.UTC(isoYear, 0, 1)) / 86_400_000 + 1;
  return { year: isoYear, week: Math.ceil(dayOfYear / 7) };
}

/** The calendar bucket of a point for a rule, in the zone. */
export function bucketOf(rule: Exclude<RetentionRule, "last">, at: Date, timeZone: string): string {
  return bucketOfWall(rule, wallTime(at, timeZone));
}

function bucketOfWall(rule: Exclude<RetentionRule, "last">, w: WallTime): string {
  const date = `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`;
  switch (rule) {
    case "hourly":
      return `${date} ${pad(w.hour)}:00 ${offsetText(w.offset)}`;
    case "daily":
      return date;
    case "weekly": {
      const iso = isoWeek(w.year, w.month, w.day);
      return `${pad(iso.year, 4)}-W${pad(iso.week)}`;
    }
    case "monthly":
      return `${pad(w.year, 4)}-${pad(w.month)}`;
    case "yearly":
      return pad(w.year, 4);
  }
}

/** Throws on counts that are not whole numbers ≥ 0. */
export function checkRetentionRules(rules: RetentionRules): void {
  for (const rule of RETENTION_RULES) {
    const n = rules[COUNT_OF[rule]];
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`keep-${rule} must be a whole number ≥ 0`);
  }
}

/**
 * Decides, for every point, whether it is kept (and by which rule) or removed. Returns the points newest first.
 * Points are compared by `createdAt`, ties broken by id, so the answer does not depend on the input order.
 */
export function computeRetention(
  points: readonly RetentionPoint[],
  rules: RetentionRules,
  timeZone: string,
): RetentionDecision[] {
  checkRetentionRules(rules);
  formatterFor(timeZone);
  const sorted = [...points].sort((a, b) => {
    const d = b.createdAt.getTime() - a.createdAt.getTime();
    if (Number.isNaN(d))
      throw new RangeError(
        `restore point ${Number.isNaN(a.createdAt.getTime()) ? a.id : b.id} has an invalid date`,
      );
    return d !== 0 ? d : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
  });
  const ids = new Set<string>();
  for (const p of sorted) {
    if (ids.has(p.id)) throw new RangeError(`restore point ${p.id} is listed twice`);
    ids.add(p.id);
  }

  // Wall-clock fields once per point (Intl formatting is the costly part).
  const walls = new Map<string, WallTime>();
  const wallOf = (p: RetentionPoint) => {
    let w = walls.get(p.id);
    if (!w) {
      w = wallTime(p.createdAt, timeZone);
      walls.set(p.id, w);
    }
    return w;
  };
  const decided = new Map<string, RetentionDecision>();
  for (const p of sorted)
    if (p.pinned) decided.set(p.id, { ...base(p), keep: true, rule: "pinned", bucket: null });

  for (const rule of RETENTION_RULES) {
    const count = rules[COUNT_OF[rule]];
    if (count === 0) continue;
    const keyOf = (p: RetentionPoint) => (rule === "last" ? p.id : bucketOfWall(rule, wallOf(p)));
    // Buckets that points kept by earlier rules already stand for.
    const covered = new Set<string>();
    for (const p of sorted) {
      const d = decided.get(p.id);
      if (d?.keep && d.rule !== "pinned") covered.add(keyOf(p));
    }
    const kept = new Map<string, RetentionPoint>();
    for (const p of sorted) {
      if (decided.has(p.id)) continue;
      const key = keyOf(p);
      if (covered.has(key)) continue;
      const newer = kept.get(key);
      if (newer) {
        decided.set(p.id, {
          ...base(p),
          keep: false,
          rule: null,
          bucket: null,
          supersededBy: { id: newer.id, rule, bucket: rule === "last" ? null : key },
        });
        continue;
      }
      if (kept.size >= count) break;
      kept.set(key, p);
      decided.set(p.id, { ...base(p), keep: true, rule, bucket: rule === "last" ? null : key });
    }
  }

  return sorted.map(
    (p) => decided.get(p.id) ?? { ...base(p), keep: false, rule: null, bucket: null, supersededBy: null },
  );
}

function base(p: RetentionPoint) {
  return { id: p.id, createdAt: p.createdAt };
}

/** "keep 7 daily, 4 weekly, 6 monthly" — the rules in words, for summaries and approvals. */
export function describeRetention(rules: RetentionRules): string {
  const parts = RETENTION_RULES.filter((r) => rules[COUNT_OF[r]] > 0).map(
    (r) => `${rules[COUNT_OF[r]]} ${r}`,
  );
  return parts.length === 0 ? "keep nothing but pinned restore points" : `keep ${parts.join(", ")}`;
}
