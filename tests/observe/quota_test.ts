import assert from "node:assert/strict";
import { QuotaBook, quotaFromHeaders, resetTime } from "../../src/observe/quota.ts";

Deno.test("resetTime reads OpenAI durations and Anthropic timestamps", () => {
  assert.equal(resetTime("120ms", 1000), 1120);
  assert.equal(resetTime("1s", 1000), 2000);
  assert.equal(resetTime("6m0s", 0), 360_000);
  assert.equal(resetTime("1h2m3.5s", 0), 3_723_500);
  assert.equal(resetTime("2026-11-26T10:00:00Z", 0), Date.parse("2026-11-26T10:00:00Z"));
  assert.equal(resetTime("soon", 0), undefined);
  assert.equal(resetTime(null, 0), undefined);
});

Deno.test("quota snapshots from OpenAI and Anthropic headers; exhaustion until reset", async () => {
  const openai = new Headers({
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-reset-requests": "2s",
  });
  const snap = quotaFromHeaders(openai, 200);
  assert.equal(snap?.remaining_requests, 0);
  assert.equal(snap?.limit_requests, 500);
  assert.equal(snap?.reset_requests, "2s");
  const anthropic = quotaFromHeaders(
    new Headers({ "anthropic-ratelimit-tokens-remaining": "1234" }),
    200,
  );
  assert.equal(anthropic?.remaining_tokens, 1234);
  assert.equal(quotaFromHeaders(new Headers({ "content-type": "x" }), 200), undefined);

  const book = new QuotaBook();
  book.record("p", "k1", openai, 200);
  assert.equal(book.exhausted("p", "k1"), true);
  assert.equal(book.exhausted("p", "k1", Date.now() + 3000), false, "after the reset");
  book.record("p", "k1", new Headers({ "x-ratelimit-remaining-requests": "5" }), 200);
  assert.equal(book.exhausted("p", "k1"), false);
  assert.equal(book.get("p", "k1")?.remaining_requests, 5);
  assert.deepEqual(Object.keys(await book.all()), ["p"]);
});
