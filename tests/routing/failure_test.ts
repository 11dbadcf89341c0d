import assert from "node:assert/strict";
import { validateConfig } from "../../src/config/load.ts";
import { classifyFailure, structuredCodes } from "../../src/routing/failure.ts";

const config = validateConfig({});

Deno.test("a 4xx's free text never matches a pattern: an echoed 'quota' is the client's fault", () => {
  const text = JSON.stringify({
    error: {
      message: "Invalid value: 'quota'. Supported values are: 'low', 'medium', and 'high'.",
      type: "invalid_request_error",
      param: "reasoning_effort",
      code: "invalid_value",
    },
  });
  const v = classifyFailure({ status: 400, text }, config);
  assert.deepEqual(v, { retry: false, kind: "client", cooldownSeconds: 0 });
});

Deno.test("a 4xx's structured code still matches (insufficient_quota in error.code)", () => {
  const text = JSON.stringify({
    error: { message: "You exceeded your current quota", code: "insufficient_quota" },
  });
  const v = classifyFailure({ status: 400, text }, config);
  assert.equal(v.kind, "rate_limit");
  assert.equal(v.cooldownSeconds, 300);
});

Deno.test("5xx, 429, 401/403 and network failures get their own verdicts", () => {
  assert.equal(classifyFailure({ status: 500, text: "" }, config).kind, "server");
  assert.equal(classifyFailure({ status: 502, text: "x", network: true }, config).kind, "network");
  assert.equal(classifyFailure({ status: 401, text: "quota" }, config).kind, "auth");
  assert.equal(classifyFailure({ status: 403, text: "forbidden" }, config).kind, "auth");
  // A 403 whose body says quota is a limit (Google answers quota errors with 403 sometimes).
  assert.equal(classifyFailure({ status: 403, text: "quota exceeded" }, config).kind, "rate_limit");
  // A 5xx body is the upstream's, not the client's: its text may name a limit.
  assert.equal(
    classifyFailure({ status: 503, text: "rate_limit: slow down" }, config).kind,
    "rate_limit",
  );
  assert.equal(classifyFailure({ status: 404, text: "rate_limit" }, config).kind, "client");
});

Deno.test("Retry-After is honoured up to max_cooldown_seconds", () => {
  assert.equal(
    classifyFailure({ status: 429, text: "", retryAfter: 7 }, config).cooldownSeconds,
    7,
  );
  assert.equal(
    classifyFailure({ status: 429, text: "", retryAfter: 99_999_999 }, config).cooldownSeconds,
    3600,
  );
  const tight = validateConfig({ failure_policy: { max_cooldown_seconds: 60 } });
  assert.equal(classifyFailure({ status: 429, text: "" }, tight).cooldownSeconds, 60);
});

Deno.test("structured codes: OpenAI, Anthropic and Google shapes, never the message", () => {
  assert.deepEqual(
    structuredCodes({ text: '{"type":"error","error":{"type":"rate_limit_error","message":"q"}}' }),
    ["rate_limit_error"],
  );
  assert.deepEqual(
    structuredCodes({
      text: JSON.stringify([{
        error: {
          code: 429,
          message: "quota",
          status: "RESOURCE_EXHAUSTED",
          details: [{ reason: "RATE_LIMIT_EXCEEDED" }],
        },
      }]),
    }),
    ["resource_exhausted", "rate_limit_exceeded"],
  );
  assert.deepEqual(structuredCodes({ text: "not json", code: "upstream_error" }), [
    "upstream_error",
  ]);
});
