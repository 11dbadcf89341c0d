/**
 * The HTTP contract as a plain `fetch` client sees it (docs/interface.md): health without auth,
 * the four ways to present a client key, model listings in each family's shape, bad input
 * answered with clear 4xx errors in the caller's format, and no stack traces or secrets in any
 * response body.
 */
import assert from "node:assert/strict";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

const CLIENT_KEY = "sk-client-contract-7f3a9c";
const UPSTREAM_KEY = "sk-upstream-secret-d41d8cd98f00b204";
const MAX_BODY = 1024;

/** A stack frame as V8/Deno print them, or a source location. */
const STACK_FRAME = /\n\s*at\s|^\s*at\s+\S+\s+\(|file:\/\/|\.ts:\d+:\d+/m;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function withGateway(fn: (gw: TestGateway) => Promise<void>): Promise<void> {
  // An OpenAI-type provider on a closed port: its requests fail, and its key must never leak.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const gw = await startTestGateway({
    auth: { api_keys: [CLIENT_KEY] },
    providers: [
      { id: "demo", type: "echo", models: ["demo"] },
      {
        id: "dead",
        type: "openai",
        base_url: `http://127.0.0.1:${deadPort}/v1`,
        api_keys: [UPSTREAM_KEY],
        models: ["dead-model"],
        timeout_ms: 2000,
      },
    ],
    models: { smart: { routes: [{ provider: "demo", model: "demo" }] } },
    limits: { max_body_bytes: MAX_BODY },
  });
  try {
    await fn(gw);
  } finally {
    await gw.close();
  }
}

/** Sends a request, reads the whole body, and checks it never carries a stack or a secret. */
async function call(gw: TestGateway, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(`${gw.url}${path}`, { ...init, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  assert.ok(!STACK_FRAME.test(text), `${path}: body has a stack frame: ${text}`);
  assert.ok(!text.includes(UPSTREAM_KEY), `${path}: body leaks the upstream key`);
  assert.ok(
    !text.includes(UPSTREAM_KEY.slice(-12)),
    `${path}: body leaks part of the upstream key`,
  );
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON; the caller decides whether that is fine.
  }
  return { status: res.status, headers: res.headers, text, json };
}

const bearer = { authorization: `Bearer ${CLIENT_KEY}` };
const jsonHeaders = { ...bearer, "content-type": "application/json" };

function chat(gw: TestGateway, body: BodyInit | null, headers: HeadersInit = jsonHeaders) {
  return call(gw, "/v1/chat/completions", { method: "POST", headers, body });
}

function chatBody(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    model: "demo",
    messages: [{ role: "user", content: "hello contract" }],
    ...extra,
  });
}

interface OpenAIError {
  error: { message: string; type: string; code: string | null };
}

function assertOpenAIError(a: Answer, status: number, message?: RegExp): OpenAIError["error"] {
  assert.equal(a.status, status, `expected ${status}, got ${a.status}: ${a.text}`);
  assert.match(a.headers.get("content-type") ?? "", /application\/json/);
  const body = a.json as OpenAIError;
  assert.ok(body && typeof body.error === "object", `OpenAI error shape: ${a.text}`);
  assert.equal(typeof body.error.message, "string");
  assert.ok(body.error.message.length > 0, "a message");
  assert.equal(typeof body.error.type, "string");
  assert.ok("code" in body.error, "OpenAI errors carry a code field");
  if (message) assert.match(body.error.message, message);
  return body.error;
}

function assertAnthropicError(a: Answer, status: number, type: string): void {
  assert.equal(a.status, status, a.text);
  const body = a.json as { type?: string; error?: { type?: string; message?: string } };
  assert.equal(body.type, "error", a.text);
  assert.equal(body.error?.type, type, a.text);
  assert.equal(typeof body.error?.message, "string");
  assert.ok((body.error?.message ?? "").length > 0);
}

function assertGeminiError(a: Answer, status: number, grpcStatus: string): void {
  assert.equal(a.status, status, a.text);
  const body = a.json as { error?: { code?: number; message?: string; status?: string } };
  assert.equal(body.error?.code, status, a.text);
  assert.equal(body.error?.status, grpcStatus, a.text);
  assert.equal(typeof body.error?.message, "string");
  assert.ok((body.error?.message ?? "").length > 0);
}

function openAIIds(a: Answer): string[] {
  const body = a.json as { object?: string; data?: Array<{ id: string; object: string }> };
  assert.equal(body.object, "list", `OpenAI list shape: ${a.text}`);
  assert.ok(Array.isArray(body.data));
  for (const m of body.data) {
    assert.equal(typeof m.id, "string");
    assert.equal(m.object, "model");
  }
  return body.data.map((m) => m.id);
}

function geminiNames(a: Answer): string[] {
  const body = a.json as { models?: Array<{ name: string }>; object?: string };
  assert.ok(Array.isArray(body.models), `Gemini list shape: ${a.text}`);
  assert.equal(body.object, undefined, "not the OpenAI shape");
  return body.models.map((m) => m.name);
}

Deno.test("/health and /healthz answer 200 without a client key while keys are configured", async () => {
  await withGateway(async (gw) => {
    for (const path of ["/health", "/healthz"]) {
      const a = await call(gw, path);
      assert.equal(a.status, 200, `${path}: ${a.text}`);
      // And with a wrong key they are still public.
      const b = await call(gw, path, { headers: { authorization: "Bearer wrong" } });
      assert.equal(b.status, 200, `${path} with a wrong key: ${b.text}`);
    }
    // A keyed route is not public.
    assert.equal((await call(gw, "/v1/models")).status, 401);
  });
});

Deno.test("client auth: Bearer, x-api-key, x-goog-api-key and ?key= are each accepted", async () => {
  await withGateway(async (gw) => {
    const ways: Array<{ name: string; headers: Record<string, string>; query: string }> = [
      {
        name: "Authorization: Bearer",
        headers: { authorization: `Bearer ${CLIENT_KEY}` },
        query: "",
      },
      { name: "x-api-key", headers: { "x-api-key": CLIENT_KEY }, query: "" },
      { name: "x-goog-api-key", headers: { "x-goog-api-key": CLIENT_KEY }, query: "" },
      { name: "?key=", headers: {}, query: `?key=${encodeURIComponent(CLIENT_KEY)}` },
    ];
    for (const way of ways) {
      const a = await call(gw, `/v1/chat/completions${way.query}`, {
        method: "POST",
        headers: { ...way.headers, "content-type": "application/json" },
        body: chatBody(),
      });
      assert.equal(a.status, 200, `${way.name}: ${a.text}`);
      const body = a.json as { choices: Array<{ message: { content: string } }> };
      assert.equal(body.choices[0].message.content, "hello contract", way.name);

      const m = await call(gw, `/v1/models${way.query}`, { headers: way.headers });
      assert.equal(m.status, 200, `${way.name} on /v1/models: ${m.text}`);
    }
  });
});

Deno.test("client auth: a wrong or missing key is 401 in the caller's format", async () => {
  await withGateway(async (gw) => {
    const wrongs: Array<{ name: string; headers: Record<string, string>; query: string }> = [
      { name: "missing", headers: {}, query: "" },
      { name: "wrong Bearer", headers: { authorization: "Bearer sk-wrong" }, query: "" },
      { name: "wrong x-api-key", headers: { "x-api-key": "sk-wrong" }, query: "" },
      { name: "wrong x-goog-api-key", headers: { "x-goog-api-key": "sk-wrong" }, query: "" },
      { name: "wrong ?key=", headers: {}, query: "?key=sk-wrong" },
      // A prefix of the real key is not the key.
      {
        name: "key prefix",
        headers: { authorization: `Bearer ${CLIENT_KEY.slice(0, -1)}` },
        query: "",
      },
      { name: "Basic scheme", headers: { authorization: `Basic ${CLIENT_KEY}` }, query: "" },
    ];
    for (const w of wrongs) {
      // OpenAI callers.
      const c = await call(gw, `/v1/chat/completions${w.query}`, {
        method: "POST",
        headers: { ...w.headers, "content-type": "application/json" },
        body: chatBody(),
      });
      const err = assertOpenAIError(c, 401);
      assert.equal(err.type, "authentication_error", w.name);
      assert.ok(!c.text.includes(CLIENT_KEY), "the real key is not echoed");

      // /v1/models answers OpenAI-shaped unless the caller is a Gemini one (x-goog-api-key / ?key=).
      const m = await call(gw, `/v1/models${w.query}`, { headers: w.headers });
      const geminiCaller = "x-goog-api-key" in w.headers || w.query !== "";
      if (geminiCaller) assertGeminiError(m, 401, "UNAUTHENTICATED");
      else assert.equal(assertOpenAIError(m, 401).type, "authentication_error", w.name);

      // Anthropic callers.
      const msg = await call(gw, `/v1/messages${w.query}`, {
        method: "POST",
        headers: {
          ...w.headers,
          "content-type": "application/json",
          "anthropic-version": "2023-06-01",
        },
        body: JSON.stringify({
          model: "demo",
          max_tokens: 16,
          messages: [{ role: "user", content: "hi" }],
        }),
      });
      assertAnthropicError(msg, 401, "authentication_error");

      // Gemini callers.
      const g = await call(gw, `/v1beta/models${w.query}`, { headers: w.headers });
      assertGeminiError(g, 401, "UNAUTHENTICATED");
    }
  });
});

Deno.test("GET /v1/models and /models: OpenAI list with models and aliases; Gemini shape for Gemini callers", async () => {
  await withGateway(async (gw) => {
    for (const path of ["/v1/models", "/models"]) {
      const a = await call(gw, path, { headers: bearer });
      assert.equal(a.status, 200, a.text);
      const ids = openAIIds(a);
      for (const id of ["demo", "dead-model", "smart"]) {
        assert.ok(ids.includes(id), `${path} lists ${id}: ${ids.join(", ")}`);
      }

      const viaX = await call(gw, path, { headers: { "x-api-key": CLIENT_KEY } });
      assert.ok(openAIIds(viaX).includes("smart"), "x-api-key callers get the OpenAI shape");

      const goog = await call(gw, path, { headers: { "x-goog-api-key": CLIENT_KEY } });
      assert.equal(goog.status, 200, goog.text);
      const names = geminiNames(goog);
      for (const id of ["demo", "dead-model", "smart"]) {
        assert.ok(names.includes(`models/${id}`), `${path} (Gemini) lists models/${id}`);
      }

      const q = await call(gw, `${path}?key=${CLIENT_KEY}`);
      assert.equal(q.status, 200, q.text);
      assert.ok(geminiNames(q).includes("models/smart"), "?key= callers get the Gemini shape");

      // Google auth plus Authorization: an OpenAI-style caller, OpenAI shape.
      const both = await call(gw, path, {
        headers: { "x-goog-api-key": CLIENT_KEY, authorization: `Bearer ${CLIENT_KEY}` },
      });
      assert.ok(openAIIds(both).includes("demo"));
    }

    const v1beta = await call(gw, "/v1beta/models", { headers: bearer });
    assert.equal(v1beta.status, 200, v1beta.text);
    const names = geminiNames(v1beta);
    for (const id of ["demo", "dead-model", "smart"]) {
      assert.ok(names.includes(`models/${id}`), `/v1beta/models lists models/${id}`);
    }
    const first = (v1beta.json as { models: Array<Record<string, unknown>> }).models[0];
    assert.ok(Array.isArray(first.supportedGenerationMethods));
  });
});

Deno.test("bad chat input: a clear 4xx in the OpenAI error shape, never a stack trace", async () => {
  await withGateway(async (gw) => {
    const cases: Array<{ name: string; body: BodyInit | null; status: number; message: RegExp }> = [
      { name: "non-JSON body", body: "{not json", status: 400, message: /JSON/ },
      { name: "JSON array body", body: "[]", status: 400, message: /JSON object/ },
      { name: "JSON string body", body: '"hello"', status: 400, message: /JSON object/ },
      { name: "empty body", body: "", status: 400, message: /empty/i },
      { name: "no body at all", body: null, status: 400, message: /empty/i },
      {
        name: "messages missing",
        body: JSON.stringify({ model: "demo" }),
        status: 400,
        message: /messages/,
      },
      {
        name: "model missing",
        body: JSON.stringify({ messages: [{ role: "user", content: "x" }] }),
        status: 400,
        message: /model/,
      },
      {
        name: "model a number",
        body: JSON.stringify({ model: 42, messages: [{ role: "user", content: "x" }] }),
        status: 400,
        message: /model/,
      },
      {
        name: "messages empty",
        body: JSON.stringify({ model: "demo", messages: [] }),
        status: 400,
        message: /messages/,
      },
      {
        name: "role robot",
        body: JSON.stringify({ model: "demo", messages: [{ role: "robot", content: "x" }] }),
        status: 400,
        message: /role must be one of/,
      },
      {
        name: "temperature hot",
        body: chatBody({ temperature: "hot" }),
        status: 400,
        message: /'temperature'/,
      },
    ];
    for (const c of cases) {
      const a = await chat(gw, c.body);
      const err = assertOpenAIError(a, c.status, c.message);
      assert.equal(err.type, "invalid_request_error", c.name);
      assert.ok(err.message.length < 500, `${c.name}: a short message, not a dump`);
    }

    const unknown = await chat(gw, chatBody({ model: "no-such-model-xyz" }));
    const err = assertOpenAIError(unknown, 404, /no-such-model-xyz/);
    assert.equal(err.code, "model_not_found");
  });
});

Deno.test("a body over limits.max_body_bytes is 413, with a content-length and chunked", async () => {
  await withGateway(async (gw) => {
    const big = chatBody({ padding: "x".repeat(MAX_BODY * 3) });
    assert.ok(new TextEncoder().encode(big).byteLength > MAX_BODY);

    const declared = await chat(gw, big);
    assert.equal(assertOpenAIError(declared, 413, /\d+ bytes/).code, "request_too_large");

    // No content-length: the limit is enforced while reading.
    const bytes = new TextEncoder().encode(big);
    let sent = 0;
    const chunked = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= bytes.byteLength) return controller.close();
        controller.enqueue(bytes.slice(sent, sent + 256));
        sent += 256;
      },
    });
    const streamed = await chat(gw, chunked);
    assert.equal(assertOpenAIError(streamed, 413).code, "request_too_large");

    // A chunked body within the limit is read whole and answered.
    const small = new TextEncoder().encode(chatBody());
    const ok = await chat(
      gw,
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(small.slice(0, 10));
          controller.enqueue(small.slice(10));
          controller.close();
        },
      }),
    );
    assert.equal(ok.status, 200, ok.text);

    // Exactly at the limit is allowed (the limit is inclusive).
    const base = chatBody({ pad: "" });
    const exact = chatBody({ pad: "y".repeat(MAX_BODY - base.length) });
    assert.equal(new TextEncoder().encode(exact).byteLength, MAX_BODY);
    const atLimit = await chat(gw, exact);
    assert.equal(atLimit.status, 200, atLimit.text);
  });
});

Deno.test("an unknown route is 404 in the caller's format", async () => {
  await withGateway(async (gw) => {
    const openai = await call(gw, "/v1/no-such-route", { headers: bearer });
    assertOpenAIError(openai, 404, /no-such-route/);

    const openaiPost = await call(gw, "/v1/completions-nope", {
      method: "POST",
      headers: jsonHeaders,
      body: chatBody(),
    });
    assertOpenAIError(openaiPost, 404);

    const anthropic = await call(gw, "/v1/messages/no-such-route", {
      headers: { "x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01" },
    });
    assertAnthropicError(anthropic, 404, "not_found_error");

    const gemini = await call(gw, "/v1beta/no-such-route", {
      headers: { "x-goog-api-key": CLIENT_KEY },
    });
    assertGeminiError(gemini, 404, "NOT_FOUND");
  });
});

Deno.test("an unreachable upstream is a 502 that names neither the upstream key nor a stack", async () => {
  await withGateway(async (gw) => {
    const a = await chat(gw, chatBody({ model: "dead-model" }));
    const err = assertOpenAIError(a, 502);
    assert.ok(!err.message.includes(UPSTREAM_KEY));
    // Streaming: the upstream fails before any byte is sent, so the caller gets a real status.
    const s = await chat(gw, chatBody({ model: "dead-model", stream: true }));
    assert.equal(assertOpenAIError(s, 502).code, err.code);
    // Nor is the key written to the log.
    assert.ok(!gw.logs.join("\n").includes(UPSTREAM_KEY), "upstream key never logged");
  });
});
