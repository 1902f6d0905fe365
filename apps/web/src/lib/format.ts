/** How dates, sizes, rates and durations read everywhere in the app. */

/**
 * Date and time with its zone ("Dec 7, 2026, 3:45 PM UTC"): pages rendered on the server and in the browser may be
 * in different zones, so every time says which one it is in.
 */
export function formatDateTime(d: Date | string | null | undefined, timeZone?: string): string {
  if (!d) return "—";
  return new Date(d).toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZoneName: "short",
    timeZone,
  });
}

/** A time of day with its zone, for event logs: "3:45:12 PM UTC". */
export function formatTime(d: Date | string | null | undefined, timeZone?: string): string {
  if (!d) return "—";
  return new Date(d).toLocaleTimeString(undefined, { timeZoneName: "short", timeZone });
}

export function formatDate(d: Date | string | null | undefined): string {
  if (!d) return "—";
  return new Date(d).toLocaleDateString(undefined, { dateStyle: "medium" });
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Binary units, as oVirt shows disk sizes: 1.5 GiB. */
export function formatBytes(n: number | bigint | null | undefined): string {
  if (n === null || n === undefined) return "—";
  let v = Number(n);
  let i = 0;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 || v >= 100 ? 0 : 1)} ${UNITS[i]}`;
}

export function formatRate(bytesPerSecond: number | null | undefined): string {
  if (!bytesPerSecond) return "—";
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** 45 s, 3 min 20 s, 2 h 05 min. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, "0")} min`;
}

/** "3 minutes ago", "in 2 hours". */
export function formatRelative(d: Date | string | null | undefined, now = Date.now()): string {
  if (!d) return "never";
  const diff = (new Date(d).getTime() - now) / 1000;
  const abs = Math.abs(diff);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (abs < 60) return rtf.format(Math.round(diff), "second");
  if (abs < 3600) return rtf.format(Math.round(diff / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), "hour");
  return rtf.format(Math.round(diff / 86400), "day");
}
