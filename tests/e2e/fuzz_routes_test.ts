import assert from "node:assert/strict";
import fc from "fast-check";
import { startTestGateway } from "./start_gateway.ts";

/**
 * Property test: random, deep, huge and malformed bodies on every inbound route never give a
 * 5xx or hang; every answer is a 2xx or a 4xx whose body is the route's own error shape.
 * Bounded: a fixed number of runs per route and a per-request timeout.
 */

const ROUTES: Array<{ path: string; shape: "openai" | "anthropic" | "gemini" }> = [
  { path: "/v1/chat/completions", shape: "openai" },
  { path: "/v1/responses", shape: "openai" },
  { path: "/v1/messages", shape: "anthropic" },
  { path: "/v1/messages/count_tokens", shape: "anthropic" },
  { path: "/v1beta/models/demo:generateContent", shape: "gemini" },
  { path: "/v1beta/models/demo:streamGenerateContent?alt=sse", shape: "gemini" },
  { path: "/v1beta/models/demo:countTokens", shape: "gemini" },
  { path: "/v1/models/demo:generateContent", shape: "gemini" },
];

/** Bodies that look like requests of any format, with random values in every slot. */
const messageish = fc.record({
  role: fc.oneof(
    fc.constantFrom("user", "assistant", "system", "tool", "model", "developer"),
    fc.string(),
  ),
  content: fc.oneof(
    fc.string(),
    fc.array(
      fc.record({
        type: fc.constantFrom("text", "image_url", "image", "tool_use", "tool_result", "thinking"),
        text: fc.anything(),
      }, { requiredKeys: [] }),
    ),
    fc.anything(),
  ),
  parts: fc.anything(),
}, { requiredKeys: [] });

const bodyArb = fc.oneof(
  fc.anything({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? "null"),
  fc.record({
    model: fc.oneof(fc.constant("demo"), fc.string(), fc.integer(), fc.constant(null)),
    messages: fc.oneof(fc.array(messageish, { maxLength: 6 }), fc.anything()),
    input: fc.oneof(fc.string(), fc.array(messageish, { maxLength: 4 }), fc.anything()),
    contents: fc.oneof(fc.array(messageish, { maxLength: 4 }), fc.anything()),
    max_tokens: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(1e308)),
    stream: fc.oneof(fc.boolean(), fc.anything()),
    tools: fc.anything(),
    temperature: fc.oneof(fc.double(), fc.string()),
  }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => new TextDecoder().decode(b)),
);

function checkShape(shape: string, body: unknown): void {
  const b = body as Record<string, unknown>;
  if (shape === "anthropic") {
    assert.equal(b.type, "error");
    assert.equal(typeof (b.error as Record<string, unknown>).message, "string");
  } else if (shape === "gemini") {
    const e = b.error as Record<string, unknown>;
    assert.equal(typeof e.code, "number");
    assert.equal(typeof e.status, "string");
  } else {
    assert.equal(typeof (b.error as Record<string, unknown>).message, "string");
  }
}

Deno.test("random bodies on every inbound route: never a 5xx, never a hang", async () => {
  const gw = await startTestGateway({
    providers: [{ id: "demo", type: "echo", models: ["demo"] }],
    limits: { max_body_bytes: 64 * 1024 },
  });
  try {
    for (const route of ROUTES) {
      await fc.assert(
        fc.asyncProperty(bodyArb, async (body) => {
          const res = await fetch(`${gw.url}${route.path}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
            signal: AbortSignal.timeout(5000),
          });
          const text = await res.text();
          assert.ok(
            res.status < 500,
            `${route.path} answered ${res.status}: ${text.slice(0, 200)}`,
          );
          if (res.status >= 400) {
            checkShape(route.shape, JSON.parse(text));
            assert.ok(!/\n\s+at /.test(text), "no stack trace");
          }
        }),
        { numRuns: 60, seed: 20261126 },
      );
    }
  } finally {
    await gw.close();
  }
});

Deno.test("absurd sizes: 10,000 messages, a 1 MB string, deep nesting, wrong content types", async () => {
  const gw = await startTestGateway({
    providers: [{ id: "demo", type: "echo", models: ["demo"] }],
  });
  try {
    const many = Array.from(
      { length: 10_000 },
      (_, i) => ({ role: i % 2 ? "assistant" : "user", content: "x" }),
    );
    let deep: unknown = "leaf";
    for (let i = 0; i < 5000; i++) deep = [deep];
    const cases: Array<[string, string, string]> = [
      [
        "/v1/chat/completions",
        JSON.stringify({ model: "demo", messages: many }),
        "application/json",
      ],
      [
        "/v1/messages",
        JSON.stringify({ model: "demo", max_tokens: 5, messages: many }),
        "application/json",
      ],
      [
        "/v1/chat/completions",
        JSON.stringify({
          model: "demo",
          messages: [{ role: "user", content: "y".repeat(1 << 20) }],
        }),
        "application/json",
      ],
      [
        "/v1/chat/completions",
        JSON.stringify({ model: "demo", messages: deep }),
        "application/json",
      ],
      ["/v1/responses", JSON.stringify({ model: "demo", input: deep }), "text/plain"],
      [
        "/v1beta/models/demo:generateContent",
        "model=demo&contents=x",
        "application/x-www-form-urlencoded",
      ],
    ];
    for (const [path, body, type] of cases) {
      const started = Date.now();
      const res = await fetch(`${gw.url}${path}`, {
        method: "POST",
        headers: { "content-type": type },
        body,
        signal: AbortSignal.timeout(20_000),
      });
      await res.body?.cancel();
      assert.ok(res.status < 500, `${path} answered ${res.status}`);
      assert.ok(Date.now() - started < 10_000, `${path} took ${Date.now() - started} ms`);
    }
  } finally {
    await gw.close();
  }
});
