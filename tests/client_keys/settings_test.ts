import assert from "node:assert/strict";
import { ConfigError, validateConfig } from "../../src/config/load.ts";
import { allowlist, createKeySchema } from "../../src/client_keys/settings.ts";
import { costOf } from "../../src/client_keys/pricing.ts";
import { bucketEnd, bucketOf } from "../../src/client_keys/windows.ts";

Deno.test("config: pricing and client_keys have defaults and are checked", () => {
  const cfg = validateConfig({});
  assert.deepEqual(cfg.pricing, {});
  assert.deepEqual(cfg.client_keys, { sync_ms: 1000, metrics_top: 20 });
  const priced = validateConfig({ pricing: { m: { input: 1, output: 2 } } });
  assert.deepEqual(priced.pricing.m, { input: 1, output: 2 });
  assert.throws(() => validateConfig({ pricing: { m: { input: -1 } } }), ConfigError);
  assert.throws(() => validateConfig({ pricing: { m: { inptu: 1 } } }), ConfigError);
  assert.throws(() => validateConfig({ client_keys: { sync_ms: 10 } }), ConfigError);
});

Deno.test("key settings: budgets need tokens or cost; unknown fields refused", () => {
  assert.ok(createKeySchema.safeParse({ label: "a", budget: { period: "day", cost: 1 } }).success);
  assert.ok(!createKeySchema.safeParse({ label: "a", budget: { period: "day" } }).success);
  assert.ok(!createKeySchema.safeParse({ label: "a", rmp: 5 }).success);
  assert.ok(!createKeySchema.safeParse({ label: "a", expires_at: "soon" }).success);
  assert.ok(!createKeySchema.safeParse({ rpm: 5 }).success, "a label is required");
});

Deno.test("allowlist: exact names and globs, regex characters taken literally", () => {
  const allows = allowlist(["gpt-4.1", "claude-*"])!;
  assert.ok(allows("gpt-4.1"));
  assert.ok(!allows("gpt-4x1"));
  assert.ok(allows("claude-sonnet-4-5"));
  assert.ok(!allows("my-claude-x"));
  assert.equal(allowlist(undefined), undefined);
});

Deno.test("cost: served model first, then the asked alias; cache prices default to input", () => {
  const pricing = { real: { input: 2, output: 4 }, alias: { input: 100, output: 100 } };
  const u = { input: 1_000_000, output: 500_000, cacheRead: 1_000_000, cacheWrite: 0 };
  assert.equal(costOf(pricing, ["real", "alias"], u), 2 + 2 + 2);
  assert.equal(costOf(pricing, [null, "alias"], u), 100 + 50 + 100);
  assert.equal(costOf(pricing, ["unpriced"], u), 0);
});

Deno.test("windows: weeks start Monday 00:00 UTC, months at the 1st", () => {
  const sunday = Date.UTC(2026, 2, 15, 12);
  assert.equal(new Date(bucketEnd("week", sunday)).toISOString(), "2026-03-16T00:00:00.000Z");
  assert.equal(bucketOf("week", sunday) + 1, bucketOf("week", Date.UTC(2026, 2, 16)));
  assert.equal(
    new Date(bucketEnd("month", Date.UTC(2026, 11, 31))).toISOString(),
    "2027-01-01T00:00:00.000Z",
  );
  assert.equal(new Date(bucketEnd("day", sunday)).toISOString(), "2026-03-16T00:00:00.000Z");
  assert.equal(bucketEnd("minute", 61_000), 120_000);
});
