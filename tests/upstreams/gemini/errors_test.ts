import assert from "node:assert/strict";
import {
  geminiErrorParser,
  googleRetryAfter,
  parseGoogleError,
} from "../../../src/upstreams/gemini/errors.ts";
import { readUpstreamFailure } from "../../../src/upstreams/post.ts";

const KEY = "AIzaSyLeakyKey-0123456789abcdefghij";

Deno.test("retry delay: Retry-After header first, then RetryInfo.retryDelay", () => {
  const body = parseGoogleError(JSON.stringify({
    error: {
      code: 429,
      status: "RESOURCE_EXHAUSTED",
      details: [
        { "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations: [] },
        { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "2.5s" },
      ],
    },
  }));
  assert.equal(googleRetryAfter(new Headers(), body), 2.5);
  assert.equal(googleRetryAfter(new Headers({ "retry-after": "9" }), body), 9);
  assert.equal(googleRetryAfter(new Headers(), undefined), undefined);
  assert.equal(
    googleRetryAfter(
      new Headers(),
      parseGoogleError('{"error":{"details":[{"retryDelay":"soon"}]}}'),
    ),
    undefined,
  );
});

Deno.test("Google error bodies: plain, array-wrapped, not JSON", () => {
  assert.equal(
    parseGoogleError('{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}')?.error
      .status,
    "INVALID_ARGUMENT",
  );
  assert.equal(
    parseGoogleError('[{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}]')?.error
      .code,
    503,
  );
  assert.equal(parseGoogleError("<html>502 Bad Gateway</html>"), undefined);
  assert.equal(parseGoogleError('{"error":"string"}'), undefined);
});

Deno.test("geminiErrorParser: status mapping, code, masked secrets, HTML bodies", async () => {
  const err = geminiErrorParser(
    await readUpstreamFailure(
      new Response(
        JSON.stringify({
          error: { code: 400, message: `API key ${KEY} not valid.`, status: "INVALID_ARGUMENT" },
        }),
        { status: 400 },
      ),
      { apiKey: KEY },
    ),
  );
  assert.equal(err.status, 400);
  assert.equal(err.code, "invalid_argument");
  assert.ok(!err.message.includes(KEY));
  assert.match(err.message, /AIzaS\*\*\*\*/);

  const html = geminiErrorParser(
    await readUpstreamFailure(new Response("<html>oops</html>", { status: 503 }), {}),
  );
  assert.equal(html.status, 502);
  assert.equal(html.code, "upstream_error");
  assert.match(html.message, /503: <html>oops/);
});
