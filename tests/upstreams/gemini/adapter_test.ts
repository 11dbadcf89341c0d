import assert from "node:assert/strict";
import { providerSchema } from "../../../src/config/schema.ts";
import { UpstreamError } from "../../../src/errors.ts";
import type { IrEvent, IrRequest } from "../../../src/ir/types.ts";
import { sseParserTransformer } from "../../../src/sse.ts";
import { geminiBaseUrl, geminiUpstream } from "../../../src/upstreams/gemini/adapter.ts";
import type { CallContext } from "../../../src/upstreams/types.ts";
import { type FakeGemini, startFakeGemini } from "../../fakes/gemini_upstream.ts";

const KEY = "AIzaSyFake-0123456789abcdefghijkl";

function ctx(fake: FakeGemini, model: string, extra: Partial<CallContext> = {}): CallContext {
  return {
    provider: providerSchema.parse({
      id: "g",
      type: "gemini",
      base_url: `${fake.url}/v1beta/`,
      api_keys: [KEY],
      headers: { "x-extra": "1" },
      timeout_ms: 3000,
    }),
    model,
    apiKey: KEY,
    signal: new AbortController().signal,
    clientHeaders: new Headers({ "x-forwarded-for": "10.0.0.1", cookie: "a=b" }),
    ...extra,
  };
}

function ir(extra: Partial<IrRequest> = {}): IrRequest {
  return {
    model: "alias",
    system: [{ type: "text", text: "be nice" }],
    messages: [{ role: "user", parts: [{ type: "text", text: "ping" }] }],
    tools: [],
    stop: [],
    stream: false,
    ...extra,
  };
}

async function withFake(fn: (fake: FakeGemini) => Promise<void>): Promise<void> {
  const fake = await startFakeGemini();
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

async function collect(stream: ReadableStream<IrEvent>): Promise<IrEvent[]> {
  const out: IrEvent[] = [];
  for await (const e of stream) out.push(e);
  return out;
}

Deno.test("base URL: default, override, trailing /v1beta tolerated", () => {
  const p = (base_url?: string) => providerSchema.parse({ id: "g", type: "gemini", base_url });
  assert.equal(geminiBaseUrl(p()), "https://generativelanguage.googleapis.com");
  assert.equal(geminiBaseUrl(p("https://proxy.example/v1beta/")), "https://proxy.example");
  assert.equal(geminiBaseUrl(p("https://proxy.example/google")), "https://proxy.example/google");
});

Deno.test("send: generateContent with x-goog-api-key (never in the URL), headers from scratch", async () => {
  await withFake(async (fake) => {
    const res = await geminiUpstream.send(ir(), ctx(fake, "gemini-2.5-flash"));
    assert.equal(res.finishReason, "stop");
    assert.equal(
      res.content.map((p) => p.type === "text" ? p.text : "").join(""),
      "Hello from gemini-2.5-flash: ping",
    );
    assert.deepEqual(res.usage, { inputTokens: 8, outputTokens: 6 });
    assert.equal(res.model, "gemini-2.5-flash");
    const req = fake.requests[0];
    assert.equal(req.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert.equal(req.search.toString(), "");
    assert.equal(req.headers.get("x-goog-api-key"), KEY);
    assert.equal(req.headers.get("x-extra"), "1");
    assert.equal(req.headers.get("x-forwarded-for"), null);
    assert.equal(req.headers.get("cookie"), null);
    assert.deepEqual(req.body.systemInstruction, { parts: [{ text: "be nice" }] });
    assert.deepEqual(req.body.contents, [{ role: "user", parts: [{ text: "ping" }] }]);
  });
});

Deno.test("send: function calls get ids and tool_calls; thinking keeps signatures", async () => {
  await withFake(async (fake) => {
    const tools = await geminiUpstream.send(ir(), ctx(fake, "gemini-2.5-flash-tools"));
    assert.equal(tools.finishReason, "tool_calls");
    const calls = tools.content.filter((p) => p.type === "tool_call");
    assert.equal(calls.length, 2);
    assert.notEqual(
      calls[0].type === "tool_call" && calls[0].id,
      calls[1].type === "tool_call" && calls[1].id,
    );
    assert.deepEqual(calls[0], {
      ...calls[0],
      name: "get_weather",
      signature: "c2lnLXRvb2xz",
      origin: "gemini",
    });

    const thinking = await geminiUpstream.send(ir(), ctx(fake, "gemini-2.5-pro-thinking"));
    assert.deepEqual(thinking.content, [
      {
        type: "reasoning",
        text: "**Weighing the question**\n\nThe user wants a greeting.",
        origin: "gemini",
      },
      { type: "reasoning", text: "", signature: "c2lnLXRoaW5r", origin: "gemini" },
      { type: "text", text: "Hello there!" },
    ]);
    assert.deepEqual(thinking.usage, { inputTokens: 12, outputTokens: 28, reasoningTokens: 25 });
  });
});

Deno.test("errors: 429 with RetryInfo → retryAfter 17; 500 → 502; bad key → 400", async () => {
  await withFake(async (fake) => {
    await assert.rejects(geminiUpstream.send(ir(), ctx(fake, "m-429")), (err: unknown) => {
      assert.ok(err instanceof UpstreamError);
      assert.equal(err.status, 429);
      assert.equal(err.kind, "rate_limit");
      assert.equal(err.retryAfter, 17);
      assert.equal(err.code, "resource_exhausted");
      assert.match(err.message, /quota/);
      return true;
    });
    await assert.rejects(
      geminiUpstream.stream(ir({ stream: true }), ctx(fake, "m-500")),
      (err: unknown) => {
        assert.ok(err instanceof UpstreamError);
        assert.equal(err.status, 502);
        assert.match(err.message, /INTERNAL/);
        return true;
      },
    );
    await assert.rejects(
      geminiUpstream.send(ir(), ctx(fake, "m", { apiKey: "not-a-google-key-123456" })),
      (err: unknown) => {
        assert.ok(err instanceof UpstreamError);
        assert.equal(err.status, 400);
        assert.match(err.message, /API key not valid/);
        return true;
      },
    );
  });
});

Deno.test("stream: alt=sse upstream, IR events out, usage once at the end", async () => {
  await withFake(async (fake) => {
    const events = await collect(
      await geminiUpstream.stream(ir({ stream: true }), ctx(fake, "gemini-2.5-flash")),
    );
    assert.equal(fake.requests[0].path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
    assert.equal(fake.requests[0].search.get("alt"), "sse");
    assert.equal(events[0].type, "start");
    const text = events.map((e) => e.type === "text_delta" ? e.text : "").join("");
    assert.equal(text, "Hello from gemini-2.5-flash: ping");
    assert.deepEqual(events.at(-1), {
      type: "finish",
      reason: "stop",
      usage: { inputTokens: 8, outputTokens: 6 },
    });
    assert.equal(events.filter((e) => e.type === "finish").length, 1);
  });
});

Deno.test("stream: tools and thinking come through as IR events", async () => {
  await withFake(async (fake) => {
    const tools = await collect(
      await geminiUpstream.stream(ir({ stream: true }), ctx(fake, "x-tools")),
    );
    assert.deepEqual(tools.map((e) => e.type), [
      "start",
      "tool_call_start",
      "tool_call_delta",
      "tool_call_end",
      "tool_call_start",
      "tool_call_delta",
      "tool_call_end",
      "finish",
    ]);
    assert.equal((tools.at(-1) as { reason: string }).reason, "tool_calls");
    const thinking = await collect(
      await geminiUpstream.stream(ir({ stream: true }), ctx(fake, "x-thinking")),
    );
    assert.deepEqual(thinking.slice(1, 4), [
      {
        type: "reasoning_delta",
        text: "**Weighing the question**\n\nThe user wants a greeting.",
        origin: "gemini",
      },
      { type: "reasoning_delta", text: "", signature: "c2lnLXRoaW5r", origin: "gemini" },
      { type: "text_delta", text: "Hello" },
    ]);
  });
});

Deno.test("stream: cut without finishReason, error element, and connection reset end with an error event", async () => {
  await withFake(async (fake) => {
    for (const model of ["x-cut", "x-stream-error", "x-reset"]) {
      const events = await collect(
        await geminiUpstream.stream(ir({ stream: true }), ctx(fake, model)),
      );
      const last = events.at(-1);
      assert.equal(last?.type, "error", model);
      assert.ok(events.some((e) => e.type === "text_delta"), model);
      assert.equal(events.filter((e) => e.type === "error").length, 1, model);
    }
  });
});

Deno.test("stream to Gemini 3 fills the skip signature on unsigned history calls", async () => {
  await withFake(async (fake) => {
    const history = ir({
      stream: true,
      messages: [
        { role: "user", parts: [{ type: "text", text: "go" }] },
        {
          role: "assistant",
          parts: [{ type: "tool_call", id: "toolu_1", name: "f", arguments: "{}" }],
        },
        {
          role: "tool",
          parts: [{
            type: "tool_result",
            toolCallId: "toolu_1",
            content: [{ type: "text", text: "ok" }],
          }],
        },
      ],
    });
    await collect(await geminiUpstream.stream(history, ctx(fake, "gemini-3-pro-preview")));
    await collect(await geminiUpstream.stream(history, ctx(fake, "gemini-2.5-flash")));
    const [g3, g25] = fake.requests.map((r) =>
      (r.body.contents as Array<{ parts: Array<Record<string, unknown>> }>)[1].parts[0]
    );
    assert.equal(g3.thoughtSignature, "skip_thought_signature_validator");
    assert.equal(g25.thoughtSignature, undefined);
  });
});

Deno.test("forwardNative: raw body to the same method; SSE, JSON array and JSON relayed", async () => {
  await withFake(async (fake) => {
    const raw = new TextEncoder().encode(JSON.stringify({
      contents: [{ role: "user", parts: [{ text: "native" }] }],
      futureField: { kept: true },
    }));
    const json = JSON.parse(new TextDecoder().decode(raw));

    const sseRes = await geminiUpstream.forwardNative!(
      { raw, json, stream: true, hints: { model: "alias", stream: true, sse: true } },
      ctx(fake, "gemini-2.5-flash"),
    );
    assert.equal(sseRes.status, 200);
    assert.match(sseRes.headers.get("content-type") ?? "", /text\/event-stream/);
    const events = [];
    for await (const e of sseRes.body!.pipeThrough(new TransformStream(sseParserTransformer()))) {
      events.push(JSON.parse(e.data));
    }
    assert.equal(events.length, 3);
    assert.equal(fake.requests[0].rawBody, new TextDecoder().decode(raw));
    assert.equal(fake.requests[0].path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
    assert.equal(fake.requests[0].search.get("alt"), "sse");

    const arrRes = await geminiUpstream.forwardNative!(
      { raw, json, stream: true, hints: { stream: true, sse: false } },
      ctx(fake, "gemini-2.5-flash"),
    );
    const arr = JSON.parse(await arrRes.text());
    assert.equal(arr.length, 3);
    assert.equal(fake.requests[1].search.get("alt"), null);

    const one = await geminiUpstream.forwardNative!(
      { raw, json, stream: false, hints: { stream: false } },
      ctx(fake, "gemini-2.5-flash"),
    );
    const body = await one.json();
    assert.equal(body.candidates[0].content.parts[0].text, "Hello from gemini-2.5-flash: native");
    assert.equal(fake.requests[2].path, "/v1beta/models/gemini-2.5-flash:generateContent");
  });
});

Deno.test("forwardNative: Google error bodies pass through with status and Retry-After; resets end with an error chunk", async () => {
  await withFake(async (fake) => {
    const raw = new TextEncoder().encode(
      JSON.stringify({ contents: [{ parts: [{ text: "x" }] }] }),
    );
    const json = JSON.parse(new TextDecoder().decode(raw));
    const limited = await geminiUpstream.forwardNative!(
      { raw, json, stream: false, hints: {} },
      ctx(fake, "m-429"),
    );
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "17");
    const body = await limited.json();
    assert.equal(body.error.status, "RESOURCE_EXHAUSTED");

    const server = await geminiUpstream.forwardNative!(
      { raw, json, stream: false, hints: {} },
      ctx(fake, "m-500"),
    );
    assert.equal(server.status, 502);
    assert.equal((await server.json()).error.status, "INTERNAL");

    const reset = await geminiUpstream.forwardNative!(
      { raw, json, stream: true, hints: { stream: true, sse: true } },
      ctx(fake, "m-reset"),
    );
    const chunks = [];
    for await (const e of reset.body!.pipeThrough(new TransformStream(sseParserTransformer()))) {
      chunks.push(JSON.parse(e.data));
    }
    assert.equal(chunks.length, 2);
    assert.equal(chunks[1].error.code, 502);
  });
});

Deno.test("a client abort ends the stream quietly", async () => {
  await withFake(async (fake) => {
    const ac = new AbortController();
    const stream = await geminiUpstream.stream(
      ir({ stream: true }),
      ctx(fake, "gemini-2.5-flash", { signal: ac.signal }),
    );
    const reader = stream.getReader();
    assert.equal((await reader.read()).value?.type, "start");
    ac.abort();
    await reader.cancel();
  });
});
