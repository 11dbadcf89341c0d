/** Upper bounds (ms) of the latency buckets; a last, unbounded bucket catches the rest. */
export const LATENCY_BUCKETS_MS = [
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10000,
  30000,
  60000,
  120000,
];

/** The bucket index of a duration. */
export function bucketOf(ms: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
    if (ms <= LATENCY_BUCKETS_MS[i]) return i;
  }
  return LATENCY_BUCKETS_MS.length;
}

/**
 * A percentile (0–1) from bucket counts, interpolated linearly inside its bucket; undefined
 * when there are no samples. Past the last bound it answers the last bound.
 */
export function percentile(counts: readonly number[], q: number): number | undefined {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i] ?? 0;
    if (n > 0 && seen + n >= rank) {
      if (i >= LATENCY_BUCKETS_MS.length) return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1];
      const lo = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1];
      const hi = LATENCY_BUCKETS_MS[i];
      return Math.round(lo + (hi - lo) * Math.max(0, rank - seen) / n);
    }
    seen += n;
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1];
}
