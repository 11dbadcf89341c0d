import assert from "node:assert/strict";
import { bucketOf, LATENCY_BUCKETS_MS, percentile } from "../../src/observe/histogram.ts";

Deno.test("durations fall into their bucket; past the last bound into the overflow bucket", () => {
  assert.equal(bucketOf(0), 0);
  assert.equal(bucketOf(5), 0);
  assert.equal(bucketOf(6), 1);
  assert.equal(bucketOf(999_999), LATENCY_BUCKETS_MS.length);
});

Deno.test("percentiles interpolate inside the bucket that holds the rank", () => {
  const counts = new Array(LATENCY_BUCKETS_MS.length + 1).fill(0);
  assert.equal(percentile(counts, 0.5), undefined);
  counts[bucketOf(100)] = 90; // 50..100 ms
  counts[bucketOf(1000)] = 10; // 500..1000 ms
  const p50 = percentile(counts, 0.5) ?? 0;
  assert.ok(p50 > 50 && p50 <= 100, `p50 ${p50}`);
  const p95 = percentile(counts, 0.95) ?? 0;
  assert.ok(p95 > 500 && p95 <= 1000, `p95 ${p95}`);
});
