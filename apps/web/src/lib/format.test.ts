import { describe, expect, it } from "vitest";
import {
  formatBytes,
  formatDateTime,
  formatDuration,
  formatRate,
  formatRelative,
  formatTime,
} from "./format";

describe("formatBytes", () => {
  it("uses binary units as oVirt does", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1024)).toBe("1.0 KiB");
    expect(formatBytes(1536 * 1024 * 1024)).toBe("1.5 GiB");
    expect(formatBytes(150 * 1024 * 1024)).toBe("150 MiB");
  });

  it("accepts bigint sizes beyond 2^53 and shows a dash for unknown", () => {
    expect(formatBytes(2n ** 60n)).toBe("1024 PiB");
    expect(formatBytes(null)).toBe("—");
    expect(formatBytes(undefined)).toBe("—");
  });
});

describe("formatRate", () => {
  it("appends per second and hides a zero rate", () => {
    expect(formatRate(3 * 1024 * 1024)).toBe("3.0 MiB/s");
    expect(formatRate(0)).toBe("—");
  });
});

describe("formatDuration", () => {
  it("reads as seconds, minutes or hours", () => {
    expect(formatDuration(45.4)).toBe("45 s");
    expect(formatDuration(200)).toBe("3 min 20 s");
    expect(formatDuration(2 * 3600 + 5 * 60)).toBe("2 h 05 min");
    expect(formatDuration(Number.NaN)).toBe("—");
    expect(formatDuration(-5)).toBe("0 s");
  });
});

describe("formatRelative", () => {
  it("picks the unit by distance from now", () => {
    const now = Date.UTC(2026, 0, 10, 12);
    expect(formatRelative(new Date(now - 3 * 60_000), now)).toMatch(/3 minutes ago/);
    expect(formatRelative(new Date(now + 2 * 3600_000), now)).toMatch(/in 2 hours/);
    expect(formatRelative(null, now)).toBe("never");
  });
});

describe("formatDateTime and formatTime", () => {
  it("say which time zone a time is in", () => {
    const at = "2026-12-07T15:45:12Z";
    expect(formatDateTime(at, "UTC")).toMatch(/2026.*3:45.*UTC/);
    expect(formatDateTime(at, "America/New_York")).toMatch(/10:45.*(EST|GMT-5)/);
    expect(formatTime(at, "UTC")).toMatch(/3:45:12.*UTC/);
    expect(formatDateTime(null)).toBe("—");
  });
});
