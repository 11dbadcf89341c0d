import assert from "node:assert/strict";
import { MAX_JSON_DEPTH } from "../../src/http/body.ts";
import { startTestGateway } from "./start_gateway.ts";

/**
 * Bad input gets a 4xx in the caller's format, never a 500: JSON nested thousands of levels
 * deep (it overflowed the recursive validators and schema converters: a 500 on Gemini routes
 * at about 3,000 levels, on Responses after the upstream call) is refused at parse time.
 */

const KEY = "sk-client-deep-123456";
const DEPTH = 5_000;

/** A JSON schema nested `depth` levels deep, as text (JSON.stringify would recurse too). */
function deepSchema(depth: number): string {
  return '{"type":"object","properties":{"a":'.repeat(depth) + '{"type":"string"}' +
    "}}".repeat(depth);
}

/** A plain nested array `depth` levels deep, as text. */
function deepArray(depth: number): string {
  return "[".repeat(depth) + "1" + "]".repeat(depth);
}

interface Case {
  name: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Checks the error shape of the caller's format. */
  shape(body: Record<string, unknown>): void;
}

function cases(depth: number): Case[] {
  const schema = deepSchema(depth);
  const openaiShape = (b: Record<string, unknown>) => {
    const e = b.error as Record<string, unknown>;
    assert.equal(e.type, "invalid_request_error");
    assert.equal(e.code, "json_too_deep");
  };
  const anthropicShape = (b: Record<string, unknown>) => {
    assert.equal(b.type, "error");
    assert.equal((b.error as Record<string, unknown>).type, "invalid_request_error");
  };
  const geminiShape = (b: Record<string, unknown>) => {
    const e = b.error as Record<string, unknown>;
    assert.equal(e.code, 400);
    assert.equal(e.status, "INVALID_ARGUMENT");
  };
  const bearer = { authorization: `Bearer ${KEY}` };
  return [
    {
      name: "gemini tool schema",
      path: "/v1beta/models/m:generateContent",
      headers: { "x-goog-api-key": KEY },
      body: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],` +
        `"tools":[{"functionDeclarations":[{"name":"f","parameters":${schema}}]}]}`,
      shape: geminiShape,
    },
    {
      name: "gemini response schema",
      path: "/v1beta/models/m:streamGenerateContent?alt=sse",
      headers: { "x-goog-api-key": KEY },
      body: `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],` +
        `"generationConfig":{"responseMimeType":"application/json","responseSchema":${schema}}}`,
      shape: geminiShape,
    },
    {
      name: "responses text format schema",
      path: "/v1/responses",
      headers: bearer,
      body: `{"model":"m","input":"hi","text":{"format":{"type":"json_schema","name":"x",` +
        `"schema":${schema}}}}`,
      shape: openaiShape,
    },
    {
      name: "responses nested metadata",
      path: "/v1/responses",
      headers: bearer,
      body: `{"model":"m","input":"hi","metadata":${deepArray(depth)}}`,
      shape: openaiShape,
    },
    {
      name: "chat tool schema",
      path: "/v1/chat/completions",
      headers: bearer,
      body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":` +
        `"function","function":{"name":"f","parameters":${schema}}}]}`,
      shape: openaiShape,
    },
    {
      name: "anthropic tool input schema",
      path: "/v1/messages",
      headers: { "x-api-key": KEY, "anthropic-version": "2023-06-01" },
      body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],` +
        `"tools":[{"name":"f","input_schema":${schema}}]}`,
      shape: anthropicShape,
    },
  ];
}

Deno.test("JSON nested thousands of levels deep: 400 in the caller's format on every route", async () => {
  const gw = await startTestGateway({
    auth: { api_keys: [KEY] },
    providers: [{ id: "echo", type: "echo", models: ["m"] }],
  });
  try {
    for (const c of cases(DEPTH)) {
      const res = await fetch(gw.url + c.path, {
        method: "POST",
        headers: { "content-type": "application/json", ...c.headers },
        body: c.body,
        signal: AbortSignal.timeout(10_000),
      });
      const body = await res.json();
      assert.equal(res.status, 400, `${c.name}: ${JSON.stringify(body).slice(0, 300)}`);
      assert.match(JSON.stringify(body), /deeper than/, c.name);
      c.shape(body);
    }
    // Nesting within the limit is served as before.
    for (const c of cases(20)) {
      const res = await fetch(gw.url + c.path, {
        method: "POST",
        headers: { "content-type": "application/json", ...c.headers },
        body: c.body,
        signal: AbortSignal.timeout(10_000),
      });
      assert.ok(res.status < 500, `${c.name}: ${res.status}`);
      await res.body?.cancel();
    }
    assert.ok(MAX_JSON_DEPTH >= 64, "real schemas nest a few dozen levels");
  } finally {
    await gw.close();
  }
});
