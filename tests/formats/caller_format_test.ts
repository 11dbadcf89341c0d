import assert from "node:assert/strict";
import { detectCallerFormat, errorResponse } from "../../src/formats/caller_format.ts";
import {
  AuthError,
  GatewayError,
  NotFoundError,
  RequestError,
  toGatewayError,
  UpstreamError,
} from "../../src/errors.ts";

function detect(path: string, headers: Record<string, string> = {}) {
  return detectCallerFormat(new URL(`http://127.0.0.1${path}`), new Headers(headers));
}

Deno.test("detectCallerFormat: /v1/messages is Anthropic", () => {
  assert.equal(detect("/v1/messages"), "anthropic");
  assert.equal(detect("/v1/messages/count_tokens", { authorization: "Bearer k" }), "anthropic");
  assert.equal(detect("/v1/messages", { "x-goog-api-key": "k" }), "anthropic");
});

Deno.test("detectCallerFormat: /v1beta/... and /v1/models/X:method are Gemini", () => {
  assert.equal(detect("/v1beta/models/gemini-2.5-pro:generateContent"), "gemini");
  assert.equal(detect("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"), "gemini");
  assert.equal(detect("/v1beta/models", { authorization: "Bearer k" }), "gemini");
  assert.equal(detect("/v1/models/gemini-pro:generateContent"), "gemini");
  assert.equal(detect("/v1/models/x:countTokens", { authorization: "Bearer k" }), "gemini");
});

Deno.test("detectCallerFormat: OpenAI routes and unknown paths are OpenAI", () => {
  assert.equal(detect("/v1/chat/completions"), "openai");
  assert.equal(detect("/v1/chat/completions", { "x-goog-api-key": "k" }), "openai");
  assert.equal(detect("/v1/models/gpt-4o"), "openai", "retrieving a model has no `:method`");
  assert.equal(detect("/nope"), "openai");
  assert.equal(detect("/"), "openai");
});

Deno.test("detectCallerFormat: /v1/models answers Google-authenticated callers as Gemini", () => {
  assert.equal(detect("/v1/models", { "x-goog-api-key": "k" }), "gemini");
  assert.equal(detect("/v1/models?key=k"), "gemini");
  assert.equal(detect("/models", { "x-goog-api-key": "k" }), "gemini");
  assert.equal(
    detect("/v1/models", { "x-goog-api-key": "k", authorization: "Bearer k" }),
    "openai",
  );
  assert.equal(detect("/v1/models", { "x-goog-api-key": "k", "x-api-key": "k" }), "openai");
  assert.equal(detect("/v1/models?key=k", { authorization: "Bearer k" }), "openai");
  assert.equal(detect("/v1/models", { authorization: "Bearer k" }), "openai");
  assert.equal(detect("/v1/models", { "x-api-key": "k" }), "openai");
  assert.equal(detect("/v1/models"), "openai");
});

async function render(err: GatewayError, format: "openai" | "anthropic" | "gemini") {
  const res = errorResponse(err, format);
  return { res, body: await res.json() };
}

Deno.test("errorResponse: OpenAI shape with type and code", async () => {
  const { res, body } = await render(new AuthError(), "openai");
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("retry-after"), null);
  assert.deepEqual(body, {
    error: {
      message: "Invalid or missing API key.",
      type: "authentication_error",
      param: null,
      code: "invalid_api_key",
    },
  });
  const nf = await render(new NotFoundError("Model x not found.", "model_not_found"), "openai");
  assert.equal(nf.res.status, 404);
  assert.deepEqual(nf.body.error, {
    message: "Model x not found.",
    type: "invalid_request_error",
    param: null,
    code: "model_not_found",
  });
  const bare = await render(new GatewayError(500, "internal", "boom"), "openai");
  assert.deepEqual(bare.body.error, {
    message: "boom",
    type: "server_error",
    param: null,
    code: null,
  });
});

Deno.test("errorResponse: Anthropic shape", async () => {
  const { res, body } = await render(new RequestError("bad field"), "anthropic");
  assert.equal(res.status, 400);
  assert.deepEqual(body, {
    type: "error",
    error: { type: "invalid_request_error", message: "bad field" },
  });
  const big = await render(new RequestError("too big", "request_too_large", 413), "anthropic");
  assert.equal(big.res.status, 413);
  assert.equal(big.body.error.type, "request_too_large");
  const limited = await render(new UpstreamError(429, "slow down"), "anthropic");
  assert.equal(limited.body.error.type, "rate_limit_error");
});

Deno.test("errorResponse: Gemini shape", async () => {
  const { res, body } = await render(new AuthError("no key"), "gemini");
  assert.equal(res.status, 401);
  assert.deepEqual(body, { error: { code: 401, message: "no key", status: "UNAUTHENTICATED" } });
  const cases: Array<[GatewayError, string]> = [
    [new RequestError("x"), "INVALID_ARGUMENT"],
    [new NotFoundError("x"), "NOT_FOUND"],
    [new UpstreamError(429, "x"), "RESOURCE_EXHAUSTED"],
    [new UpstreamError(504, "x"), "DEADLINE_EXCEEDED"],
    [new UpstreamError(502, "x"), "UNAVAILABLE"],
    [new UpstreamError(403, "x"), "PERMISSION_DENIED"],
  ];
  for (const [err, status] of cases) {
    const r = await render(err, "gemini");
    assert.equal(r.body.error.status, status, err.message);
    assert.equal(r.body.error.code, err.status);
  }
});

Deno.test("errorResponse sets Retry-After, rounded up to whole seconds", async () => {
  for (const format of ["openai", "anthropic", "gemini"] as const) {
    const { res } = await render(new UpstreamError(429, "slow down", { retryAfter: 12 }), format);
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("retry-after"), "12", format);
  }
  const { res } = await render(new UpstreamError(503, "busy", { retryAfter: 1.2 }), "openai");
  assert.equal(res.headers.get("retry-after"), "2");
  const zero = await render(new UpstreamError(429, "x", { retryAfter: 0 }), "openai");
  assert.equal(zero.res.headers.get("retry-after"), "0");
});

Deno.test("toGatewayError hides unknown errors behind a generic 500", async () => {
  const err = toGatewayError(new Error("secret internal detail sk-abcdef123456"));
  const { res, body } = await render(err, "openai");
  assert.equal(res.status, 500);
  assert.equal(body.error.message, "Internal gateway error.");
  assert.equal(body.error.code, "internal_error");
  const known = new AuthError();
  assert.equal(toGatewayError(known), known);
});
