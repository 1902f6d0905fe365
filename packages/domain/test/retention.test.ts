import { describe, expect, it } from "vitest";
import {
  bucketOf,
  computeRetention,
  describeRetention,
  isoWeek,
  RETENTION_RULES,
  type RetentionPoint,
  type RetentionRules,
} from "../src/retention";

const NONE: RetentionRules = {
  keepLast: 0,
  keepHourly: 0,
  keepDaily: 0,
  keepWeekly: 0,
  keepMonthly: 0,
  keepYearly: 0,
};

/** Points named by their ISO time (the id is the time, so expectations read like PBS's tests). */
function points(times: string[], pinned: string[] = []): RetentionPoint[] {
  return times.map((t) => ({ id: t, createdAt: new Date(t), pinned: pinned.includes(t) }));
}

function kept(times: string[], rules: Partial<RetentionRules>, tz = "UTC", pinned: string[] = []) {
  return computeRetention(points(times, pinned), { ...NONE, ...rules }, tz)
    .filter((d) => d.keep)
    .map((d) => d.id)
    .sort();
}

function removed(times: string[], rules: Partial<RetentionRules>, tz = "UTC") {
  return computeRetention(points(times), { ...NONE, ...rules }, tz)
    .filter((d) => !d.keep)
    .map((d) => d.id)
    .sort();
}

// The examples of Proxmox Backup Server's own prune tests (tests/prune.rs), backup times in UTC.
describe("PBS documented examples", () => {
  const hourly = [
    "2019-11-15T09:39:15Z",
    "2019-11-15T10:49:15Z",
    "2019-11-15T10:59:15Z",
    "2019-11-15T11:39:15Z",
    "2019-11-15T11:49:15Z",
    "2019-11-15T11:59:15Z",
  ];
  const simple = [
    "2019-12-02T11:59:15Z",
    "2019-12-03T11:59:15Z",
    "2019-12-04T11:59:15Z",
    "2019-12-04T12:59:15Z",
  ];
  const simple2 = [
    "2018-11-15T11:59:15Z",
    "2019-11-15T11:59:15Z",
    "2019-11-21T11:59:15Z",
    "2019-11-22T11:59:15Z",
    "2019-11-29T11:59:15Z",
    "2019-12-01T11:59:15Z",
    "2019-12-02T11:59:15Z",
    "2019-12-03T11:59:15Z",
    "2019-12-04T11:59:15Z",
  ];

  it.each([
    [
      "hourly 3 removes",
      hourly,
      { keepHourly: 3 },
      "removed",
      ["2019-11-15T10:49:15Z", "2019-11-15T11:39:15Z", "2019-11-15T11:49:15Z"],
    ],
    ["hourly 2 keeps", hourly, { keepHourly: 2 }, "kept", ["2019-11-15T10:59:15Z", "2019-11-15T11:59:15Z"]],
    ["last 4", simple, { keepLast: 4 }, "removed", []],
    ["last 3", simple, { keepLast: 3 }, "removed", ["2019-12-02T11:59:15Z"]],
    ["last 2", simple, { keepLast: 2 }, "removed", ["2019-12-02T11:59:15Z", "2019-12-03T11:59:15Z"]],
    ["last 1", simple, { keepLast: 1 }, "removed", simple.slice(0, 3)],
    ["last 0", simple, { keepLast: 0 }, "removed", simple],
    ["last 2 + daily 2", simple, { keepLast: 2, keepDaily: 2 }, "removed", []],
    ["daily 3", simple, { keepDaily: 3 }, "removed", ["2019-12-04T11:59:15Z"]],
    ["daily 2", simple, { keepDaily: 2 }, "removed", ["2019-12-02T11:59:15Z", "2019-12-04T11:59:15Z"]],
    ["weekly 5 (one week)", simple, { keepWeekly: 5 }, "removed", simple.slice(0, 3)],
    ["daily 1 + weekly 5", simple, { keepDaily: 1, keepWeekly: 5 }, "removed", simple.slice(0, 3)],
    ["monthly 6 (one month)", simple, { keepMonthly: 6 }, "removed", simple.slice(0, 3)],
    ["yearly 7 (one year)", simple, { keepYearly: 7 }, "removed", simple.slice(0, 3)],
    [
      "weekly 5 + monthly 6 + yearly 7",
      simple,
      { keepWeekly: 5, keepMonthly: 6, keepYearly: 7 },
      "removed",
      simple.slice(0, 3),
    ],
    ["daily 1", simple2, { keepDaily: 1 }, "kept", ["2019-12-04T11:59:15Z"]],
    [
      "last 1 + daily 1",
      simple2,
      { keepLast: 1, keepDaily: 1 },
      "kept",
      ["2019-12-03T11:59:15Z", "2019-12-04T11:59:15Z"],
    ],
    [
      "daily 1 + weekly 1",
      simple2,
      { keepDaily: 1, keepWeekly: 1 },
      "kept",
      ["2019-12-01T11:59:15Z", "2019-12-04T11:59:15Z"],
    ],
    [
      "daily 1 + weekly 1 + monthly 1",
      simple2,
      { keepDaily: 1, keepWeekly: 1, keepMonthly: 1 },
      "kept",
      ["2019-11-22T11:59:15Z", "2019-12-01T11:59:15Z", "2019-12-04T11:59:15Z"],
    ],
    [
      "monthly 1 + yearly 1",
      simple2,
      { keepMonthly: 1, keepYearly: 1 },
      "kept",
      ["2018-11-15T11:59:15Z", "2019-12-04T11:59:15Z"],
    ],
  ] as const)("%s", (_name, times, rules, which, expected) => {
    const got = which === "kept" ? kept([...times], rules) : removed([...times], rules);
    expect(got).toEqual([...expected].sort());
  });

  it("says which rule keeps each point and which newer point supersedes a removed one", () => {
    const d = computeRetention(
      points(simple2),
      { ...NONE, keepDaily: 1, keepWeekly: 1, keepMonthly: 1 },
      "UTC",
    );
    const by = Object.fromEntries(d.map((x) => [x.id, x]));
    expect(by["2019-12-04T11:59:15Z"]).toMatchObject({ keep: true, rule: "daily", bucket: "2019-12-04" });
    expect(by["2019-12-01T11:59:15Z"]).toMatchObject({ keep: true, rule: "weekly", bucket: "2019-W48" });
    expect(by["2019-11-22T11:59:15Z"]).toMatchObject({ keep: true, rule: "monthly", bucket: "2019-11" });
    // 29 Nov shares ISO week 48 with 1 Dec, which the weekly rule keeps: it goes, and is not the month's pick.
    expect(by["2019-11-29T11:59:15Z"]).toMatchObject({
      keep: false,
      supersededBy: { id: "2019-12-01T11:59:15Z", rule: "weekly", bucket: "2019-W48" },
    });
    expect(by["2018-11-15T11:59:15Z"]).toMatchObject({ keep: false, supersededBy: null });
    // Newest first.
    expect(d.map((x) => x.id)).toEqual([...simple2].reverse());
  });
});

describe("calendar buckets in the policy's time zone", () => {
  it("spring-forward: Berlin days are wall-clock days (the 23-hour day of 29 March 2026)", () => {
    const times = [
      "2026-03-28T22:59:00Z", // 23:59 CET, 28 March
      "2026-03-28T23:01:00Z", // 00:01 CET, 29 March
      "2026-03-29T21:59:00Z", // 23:59 CEST, 29 March
      "2026-03-29T22:01:00Z", // 00:01 CEST, 30 March
    ];
    expect(kept(times, { keepDaily: 3 }, "Europe/Berlin")).toEqual([
      "2026-03-28T22:59:00Z",
      "2026-03-29T21:59:00Z",
      "2026-03-29T22:01:00Z",
    ]);
    // In UTC the same points fall on other days.
    expect(kept(times, { keepDaily: 3 }, "UTC")).toEqual(["2026-03-28T23:01:00Z", "2026-03-29T22:01:00Z"]);
    expect(bucketOf("daily", new Date("2026-03-28T23:01:00Z"), "Europe/Berlin")).toBe("2026-03-29");
  });

  it("spring-forward: the hours either side of the gap are separate hours", () => {
    const times = ["2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z"]; // 01:30 CET, 03:30 CEST
    expect(bucketOf("hourly", new Date(times[0]!), "Europe/Berlin")).toBe("2026-03-29 01:00 +01:00");
    expect(bucketOf("hourly", new Date(times[1]!), "Europe/Berlin")).toBe("2026-03-29 03:00 +02:00");
    expect(kept(times, { keepHourly: 5 }, "Europe/Berlin")).toEqual(times);
  });

  it("fall-back: the repeated hour counts twice, the 25-hour day once", () => {
    const hour = [
      "2026-11-01T05:10:00Z", // 01:10 EDT
      "2026-11-01T05:50:00Z", // 01:50 EDT
      "2026-11-01T06:10:00Z", // 01:10 EST
      "2026-11-01T06:50:00Z", // 01:50 EST
    ];
    const d = computeRetention(points(hour), { ...NONE, keepHourly: 2 }, "America/New_York");
    expect(d.filter((x) => x.keep).map((x) => x.bucket)).toEqual([
      "2026-11-01 01:00 -05:00",
      "2026-11-01 01:00 -04:00",
    ]);
    expect(kept(hour, { keepHourly: 2 }, "America/New_York")).toEqual([
      "2026-11-01T05:50:00Z",
      "2026-11-01T06:50:00Z",
    ]);
    // 00:30 EDT and 23:30 EST are the same wall-clock day, 25 hours apart.
    const day = ["2026-11-01T04:30:00Z", "2026-11-02T04:30:00Z", "2026-10-31T12:00:00Z"];
    expect(kept(day, { keepDaily: 2 }, "America/New_York")).toEqual([
      "2026-10-31T12:00:00Z",
      "2026-11-02T04:30:00Z",
    ]);
  });

  it("Dec 31 → Jan 1 follows the zone's new year, not UTC's", () => {
    const times = [
      "2026-01-01T08:30:00Z", // 00:30 PST, 1 January 2026
      "2026-01-01T07:30:00Z", // 23:30 PST, 31 December 2025
      "2025-06-01T12:00:00Z",
    ];
    const la = computeRetention(points(times), { ...NONE, keepYearly: 2 }, "America/Los_Angeles");
    expect(la.filter((x) => x.keep).map((x) => [x.id, x.bucket])).toEqual([
      ["2026-01-01T08:30:00Z", "2026"],
      ["2026-01-01T07:30:00Z", "2025"],
    ]);
    expect(la.find((x) => x.id === "2025-06-01T12:00:00Z")).toMatchObject({
      keep: false,
      supersededBy: { id: "2026-01-01T07:30:00Z", rule: "yearly" },
    });
    // In UTC both are 2026: the yearly rule keeps the newer and reaches back to June 2025.
    expect(kept(times, { keepYearly: 2 })).toEqual(["2025-06-01T12:00:00Z", "2026-01-01T08:30:00Z"]);
    // Monthly and daily cross the year boundary the same way.
    expect(kept(times, { keepMonthly: 2 }, "America/Los_Angeles")).toEqual([
      "2026-01-01T07:30:00Z",
      "2026-01-01T08:30:00Z",
    ]);
    // Auckland is already in 2026 at 2025-12-31T12:00Z.
    expect(bucketOf("yearly", new Date("2025-12-31T12:00:00Z"), "Pacific/Auckland")).toBe("2026");
  });

  it("ISO weeks: week 53 of 2026 spans the new year, weeks start on Monday", () => {
    expect(isoWeek(2027, 1, 1)).toEqual({ year: 2026, week: 53 });
    expect(isoWeek(2026, 12, 28)).toEqual({ year: 2026, week: 53 });
    expect(isoWeek(2027, 1, 4)).toEqual({ year: 2027, week: 1 });
    expect(isoWeek(2024, 12, 30)).toEqual({ year: 2025, week: 1 });
    expect(isoWeek(2021, 1, 3)).toEqual({ year: 2020, week: 53 });
    expect(isoWeek(2026, 3, 29)).toEqual({ year: 2026, week: 13 });
    const times = [
      "2027-01-04T10:00:00Z", // Monday, 2027-W01
      "2027-01-02T10:00:00Z", // Saturday, 2026-W53
      "2026-12-28T10:00:00Z", // Monday, 2026-W53
      "2026-12-27T10:00:00Z", // Sunday, 2026-W52
    ];
    const d = computeRetention(points(times), { ...NONE, keepWeekly: 3 }, "UTC");
    expect(d.map((x) => [x.id, x.keep, x.keep ? x.bucket : x.supersededBy?.bucket])).toEqual([
      ["2027-01-04T10:00:00Z", true, "2027-W01"],
      ["2027-01-02T10:00:00Z", true, "2026-W53"],
      ["2026-12-28T10:00:00Z", false, "2026-W53"],
      ["2026-12-27T10:00:00Z", true, "2026-W52"],
    ]);
    // Sunday 23:30 in Tokyo is still the same ISO week as the Monday before it, though UTC says Sunday 14:30.
    expect(bucketOf("weekly", new Date("2027-01-03T14:30:00Z"), "Asia/Tokyo")).toBe("2026-W53");
    expect(bucketOf("weekly", new Date("2027-01-03T15:30:00Z"), "Asia/Tokyo")).toBe("2027-W01");
  });
});

describe("pinned points, keep-last only, nothing to keep", () => {
  const days = [
    "2026-05-01T02:00:00Z",
    "2026-05-02T02:00:00Z",
    "2026-05-03T02:00:00Z",
    "2026-05-03T14:00:00Z",
  ];

  it("keeps pinned points whatever the rules say, without letting them fill a bucket", () => {
    const d = computeRetention(
      points(days, ["2026-05-03T14:00:00Z", "2026-05-01T02:00:00Z"]),
      { ...NONE, keepDaily: 1 },
      "UTC",
    );
    expect(d.map((x) => [x.id, x.keep ? x.rule : "remove"])).toEqual([
      ["2026-05-03T14:00:00Z", "pinned"],
      // The pinned point does not stand for 3 May: the daily rule still keeps one of that day.
      ["2026-05-03T02:00:00Z", "daily"],
      ["2026-05-02T02:00:00Z", "remove"],
      ["2026-05-01T02:00:00Z", "pinned"],
    ]);
  });

  it("keep-last only keeps the newest N", () => {
    expect(kept(days, { keepLast: 2 })).toEqual(["2026-05-03T02:00:00Z", "2026-05-03T14:00:00Z"]);
    expect(
      computeRetention(points(days), { ...NONE, keepLast: 2 }, "UTC")
        .filter((x) => x.keep)
        .map((x) => x.rule),
    ).toEqual(["last", "last"]);
  });

  it("all counts zero keeps nothing but pinned points", () => {
    expect(kept(days, {}, "UTC", ["2026-05-02T02:00:00Z"])).toEqual(["2026-05-02T02:00:00Z"]);
    expect(kept(days, {})).toEqual([]);
    expect(describeRetention(NONE)).toBe("keep nothing but pinned restore points");
    expect(describeRetention({ ...NONE, keepDaily: 7, keepWeekly: 4, keepMonthly: 6 })).toBe(
      "keep 7 daily, 4 weekly, 6 monthly",
    );
  });

  it("does not depend on the order of its input, and handles no points", () => {
    const rules = { ...NONE, keepLast: 1, keepDaily: 2, keepWeekly: 2 };
    const forward = computeRetention(points(days), rules, "Europe/Berlin");
    const backward = computeRetention(points([...days].reverse()), rules, "Europe/Berlin");
    expect(backward).toEqual(forward);
    expect(computeRetention([], rules, "UTC")).toEqual([]);
  });

  it("refuses bad input with a clear error", () => {
    expect(() => computeRetention(points(days), NONE, "Mars/Olympus")).toThrow(
      /unknown time zone "Mars\/Olympus"/,
    );
    expect(() => computeRetention(points(days), { ...NONE, keepDaily: -1 }, "UTC")).toThrow(/keep-daily/);
    expect(() => computeRetention(points(days), { ...NONE, keepDaily: 1.5 }, "UTC")).toThrow(/keep-daily/);
    expect(() => computeRetention(points([days[0]!, days[0]!]), NONE, "UTC")).toThrow(/listed twice/);
    expect(() =>
      computeRetention(
        [...points(days), { id: "bad", createdAt: new Date("nope"), pinned: false }],
        NONE,
        "UTC",
      ),
    ).toThrow(/invalid date/);
  });
});

describe("a year of nightly backups (GFS)", () => {
  // 02:30 Berlin every night for 400 nights, across both DST changes and a new year.
  const nightly: RetentionPoint[] = [];
  for (let i = 0; i < 400; i++) {
    const t = new Date(Date.UTC(2025, 10, 1, 1, 30) + i * 86_400_000);
    nightly.push({ id: `rp-${i}`, createdAt: t, pinned: false });
  }
  const rules = { ...NONE, keepDaily: 7, keepWeekly: 4, keepMonthly: 6, keepYearly: 3 };
  const d = computeRetention(nightly, rules, "Europe/Berlin");

  it("keeps exactly the count of each rule, one point per bucket, the newest an earlier rule left free", () => {
    const byRule = (r: string) => d.filter((x) => x.keep && x.rule === r);
    expect(byRule("daily")).toHaveLength(7);
    expect(byRule("weekly")).toHaveLength(4);
    expect(byRule("monthly")).toHaveLength(6);
    // Data reaches back to November 2025: 2026 is covered by the newer rules, 2025 is the only older year.
    expect(byRule("yearly").map((x) => x.bucket)).toEqual(["2025"]);
    for (const rule of ["daily", "weekly", "monthly", "yearly"] as const) {
      const buckets = byRule(rule).map((x) => x.bucket);
      expect(new Set(buckets).size).toBe(buckets.length);
      const earlier = RETENTION_RULES.slice(0, RETENTION_RULES.indexOf(rule));
      for (const k of byRule(rule)) {
        // Every newer point of the bucket was decided by an earlier rule (kept, or superseded by one it kept).
        const newer = d.filter(
          (p) => p.createdAt > k.createdAt && bucketOf(rule, p.createdAt, "Europe/Berlin") === k.bucket,
        );
        for (const p of newer) {
          const by = p.keep ? p.rule : p.supersededBy?.rule;
          expect(earlier).toContain(by);
        }
      }
    }
    // The yearly pick is the last night of 2025 in Berlin.
    expect(byRule("yearly")[0]?.createdAt.toISOString()).toBe("2025-12-31T01:30:00.000Z");
    expect(d.filter((x) => x.keep)).toHaveLength(18);
  });
});
