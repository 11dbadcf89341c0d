/** The counting windows of managed keys, aligned to UTC calendar boundaries. */
export type WindowKind = "minute" | "day" | "week" | "month";

const MINUTE = 60_000;
const DAY = 86_400_000;

/** The bucket number of `now` in a window (minutes, days, Monday-based weeks, months since 1970). */
export function bucketOf(kind: WindowKind, now: number): number {
  switch (kind) {
    case "minute":
      return Math.floor(now / MINUTE);
    case "day":
      return Math.floor(now / DAY);
    case "week":
      // 1970-01-01 was a Thursday: shifting by three days starts weeks on Monday.
      return Math.floor((Math.floor(now / DAY) + 3) / 7);
    case "month": {
      const d = new Date(now);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    }
  }
}

/** When the bucket holding `now` ends (ms since the epoch): the reset time of its limits. */
export function bucketEnd(kind: WindowKind, now: number): number {
  const b = bucketOf(kind, now);
  switch (kind) {
    case "minute":
      return (b + 1) * MINUTE;
    case "day":
      return (b + 1) * DAY;
    case "week":
      return ((b + 1) * 7 - 3) * DAY;
    case "month":
      return Date.UTC(Math.floor((b + 1) / 12), (b + 1) % 12, 1);
  }
}

/** `YYYY-MM-DD` of a day bucket. */
export function dayName(day: number): string {
  return new Date(day * DAY).toISOString().slice(0, 10);
}
