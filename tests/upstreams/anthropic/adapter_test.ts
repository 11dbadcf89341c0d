import assert from "node:assert/strict";
import { providerSchema } from "../../../src/config/schema.ts";
import { UpstreamError } from "../../../src/errors.ts";
import { ClientGoneError } from "../../../src/upstreams/fetch_upstream.ts";
import {
  anthropicMessagesUrl,
  anthropicUpstream,
} from "../../../src/upstreams/anthropic/adapter.ts";
import type { CallContext } from "../../../src/upstreams/types.ts";
import type { IrEvent, IrRequest } from "../../../src/ir/types.ts";
import { FAKE_SIGNATURE, startFakeAnthropic } from "../../fakes/anthropic_upstream.ts";

const UP_KEY = "sk-ant-up-0123456789abcdef";

function ctx(
  url: string,
  model: string,
  extra: { clientHeaders?: HeadersInit; provider?: Record<string, unknown>; signal?: AbortSignal } =
    {},
): CallContext {
  return {
    provider: providerSchema.parse({
      id: "claude",
      type: "anthropic",
      base_url: url,
      api_keys: [UP_KEY],
      models: [model],
      timeout_ms: 5000,
      ...extra.provider,
    }),
    model,
    apiKey: UP_KEY,
    signal: extra.signal ?? new AbortController().signal,
    clientHeaders: new Headers(extra.clientHeaders),
  };
}

function ir(text: string, extra: Partial<IrRequest> = {}): IrRequest {
  return {
    model: "alias",
    system: [{ type: "text", text: "Be brief." }],
    messages: [{ role: "user", parts: [{ type: "text", text }] }],
    tools: [],
    stop: [],
    stream: false,
    ...extra,
  };
}

async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

async function withFake(
  fn: (url: string, fake: Awaited<ReturnType<typeof startFakeAnthropic>>) => Promise<void>,
): Promise<void> {
  const fake = await startFakeAnthropic();
  // The native bodies carry a field the gateway does not know but this (newer) upstream does.
  fake.extraParams.add("brand_new_beta_field");
  try {
    await fn(fake.url, fake);
  } finally {
    await fake.close();
  }
}

function isUpstreamError(status: number, pattern: RegExp, retryAfter?: number) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof UpstreamError, String(err));
    assert.equal(err.status, status);
    assert.match(err.message, pattern);
    if (retryAfter !== undefined) assert.equal(err.retryAfter, retryAfter);
    return true;
  };
}

Deno.test("anthropicMessagesUrl accepts base URLs with or without /v1", () => {
  const url = (base_url?: string): string =>
    anthropicMessagesUrl(providerSchema.parse({ id: "a", type: "anthropic", base_url }));
  assert.equal(url(), "https://api.anthropic.com/v1/messages");
  assert.equal(
    url("https://proxy.example/anthropic/"),
    "https://proxy.example/anthropic/v1/messages",
  );
  assert.equal(url("https://proxy.example/v1"), "https://proxy.example/v1/messages");
  assert.equal(url("https://proxy.example/v1/"), "https://proxy.example/v1/messages");
});

Deno.test("send: IR request → Anthropic → IR response, with the upstream's headers only", async () => {
  await withFake(async (url, fake) => {
    const res = await anthropicUpstream.send(
      ir("hello there"),
      ctx(`${url}/v1`, "claude-fake", {
        clientHeaders: {
          "x-forwarded-for": "10.0.0.9",
          cookie: "s=1",
          authorization: "Bearer sk-client",
        },
      }),
    );
    assert.deepEqual(res.content, [{ type: "text", text: "Hello from claude-fake: hello there" }]);
    assert.equal(res.finishReason, "stop");
    assert.deepEqual(res.usage, { inputTokens: 25, outputTokens: 12, cachedInputTokens: 4 });
    const req = fake.requests[0];
    assert.equal(req.path, "/v1/messages");
    assert.equal(req.headers.get("x-api-key"), UP_KEY);
    assert.equal(req.headers.get("anthropic-version"), "2023-06-01");
    for (const h of ["x-forwarded-for", "cookie", "authorization", "anthropic-beta"]) {
      assert.equal(req.headers.get(h), null, h);
    }
    assert.equal(req.body.model, "claude-fake");
    assert.equal(req.body.system, "Be brief.");
    assert.equal(req.body.max_tokens, 8192);
    assert.equal(req.body.stream, undefined);
  });
});

Deno.test("send: tool and thinking answers", async () => {
  await withFake(async (url) => {
    const tools = await anthropicUpstream.send(ir("weather?"), ctx(url, "claude-tools"));
    assert.equal(tools.finishReason, "tool_calls");
    assert.deepEqual(tools.content[1], {
      type: "tool_call",
      id: "toolu_01A09q90qw90lq917835lq9",
      name: "get_weather",
      arguments: '{"location":"Paris, France","unit":"celsius"}',
    });
    const thinking = await anthropicUpstream.send(
      ir("hi", { reasoning: { budgetTokens: 2000 } }),
      ctx(url, "claude-thinking"),
    );
    assert.deepEqual(thinking.content[0], {
      type: "reasoning",
      text: "The user greets me. I should answer briefly and politely.",
      signature: FAKE_SIGNATURE,
      origin: "anthropic",
    });
  });
});

Deno.test("send: a history from another format is accepted by Anthropic's rules", async () => {
  await withFake(async (url, fake) => {
    const req = JSON.parse(
      await Deno.readTextFile(
        new URL("../../fixtures/anthropic/ir_request_mixed.json", import.meta.url),
      ),
    ) as IrRequest;
    const res = await anthropicUpstream.send(req, ctx(url, "claude-fake"));
    assert.equal(res.finishReason, "stop");
    assert.equal(fake.requests[0].body.thinking !== undefined, true);
  });
});

Deno.test("stream: tool use streams as IR tool events with usage once", async () => {
  await withFake(async (url, fake) => {
    const events = await collect(
      await anthropicUpstream.stream(ir("weather?", { stream: true }), ctx(url, "claude-tools")),
    );
    assert.equal(fake.requests[0].body.stream, true);
    assert.equal(fake.requests[0].headers.get("accept"), "text/event-stream");
    assert.equal(events[0].type, "start");
    const text = events.flatMap((e) => e.type === "text_delta" ? [e.text] : []).join("");
    assert.equal(text, "I'll check the current weather in Paris for you.");
    const start = events.find((e) => e.type === "tool_call_start");
    assert.deepEqual(start, {
      type: "tool_call_start",
      index: 0,
      id: "toolu_01A09q90qw90lq917835lq9",
      name: "get_weather",
    });
    const args = events.flatMap((e) => e.type === "tool_call_delta" ? [e.argumentsDelta] : []).join(
      "",
    );
    assert.deepEqual(JSON.parse(args), { location: "Paris, France", unit: "celsius" });
    const finishes = events.filter((e) => e.type === "finish");
    assert.deepEqual(finishes, [{
      type: "finish",
      reason: "tool_calls",
      usage: { inputTokens: 25, outputTokens: 12, cachedInputTokens: 4 },
    }]);
    assert.equal(events.at(-1)?.type, "finish");
  });
});

Deno.test("stream: thinking arrives as reasoning deltas with an Anthropic signature", async () => {
  await withFake(async (url) => {
    const events = await collect(
      await anthropicUpstream.stream(ir("hi", { stream: true }), ctx(url, "claude-thinking")),
    );
    const reasoning = events.filter((e) => e.type === "reasoning_delta");
    assert.equal(
      reasoning.map((e) => e.type === "reasoning_delta" ? e.text : "").join(""),
      "The user greets me. I should answer briefly and politely.",
    );
    assert.deepEqual(reasoning.at(-1), {
      type: "reasoning_delta",
      text: "",
      signature: FAKE_SIGNATURE,
      origin: "anthropic",
    });
  });
});

Deno.test("429 before the first byte → UpstreamError 429 with retryAfter", async () => {
  await withFake(async (url) => {
    await assert.rejects(
      anthropicUpstream.send(ir("x"), ctx(url, "claude-429")),
      isUpstreamError(429, /per-minute rate limit/, 7),
    );
    await assert.rejects(
      anthropicUpstream.stream(ir("x", { stream: true }), ctx(url, "claude-429")),
      (err: unknown) => {
        isUpstreamError(429, /rate limit/, 7)(err);
        assert.equal((err as UpstreamError).code, "rate_limit_error");
        return true;
      },
    );
  });
});

Deno.test("5xx → UpstreamError 502 carrying Anthropic's message; a bad upstream key is not leaked", async () => {
  await withFake(async (url) => {
    await assert.rejects(
      anthropicUpstream.send(ir("x"), ctx(url, "claude-500")),
      isUpstreamError(502, /500: Internal server error/),
    );
    await assert.rejects(
      anthropicUpstream.stream(ir("x", { stream: true }), ctx(url, "claude-529")),
      isUpstreamError(502, /529: Overloaded/),
    );
    const bad = { ...ctx(url, "claude-fake"), apiKey: "sk-ant-wrong-key-123456" };
    await assert.rejects(anthropicUpstream.send(ir("x"), bad), (err: unknown) => {
      isUpstreamError(401, /invalid x-api-key/)(err);
      assert.ok(!(err as Error).message.includes("sk-ant-wrong-key-123456"));
      return true;
    });
  });
});

Deno.test("stream: a mid-stream event: error and a connection reset both end with an IR error", async () => {
  await withFake(async (url) => {
    const overloaded = await collect(
      await anthropicUpstream.stream(ir("x", { stream: true }), ctx(url, "claude-stream-error")),
    );
    assert.deepEqual(overloaded.at(-1), { type: "error", status: 529, message: "Overloaded" });
    assert.ok(overloaded.some((e) => e.type === "text_delta"));

    const reset = await collect(
      await anthropicUpstream.stream(ir("x", { stream: true }), ctx(url, "claude-reset")),
    );
    const last = reset.at(-1) as Extract<IrEvent, { type: "error" }>;
    assert.equal(last.type, "error");
    assert.equal(last.status, 502);
    assert.equal(reset.filter((e) => e.type === "finish").length, 0);
  });
});

Deno.test("a client abort cancels the upstream call", async () => {
  await withFake(async (url, fake) => {
    const abort = new AbortController();
    const pending = anthropicUpstream.send(
      ir("x"),
      ctx(url, "claude-stall", { signal: abort.signal }),
    );
    setTimeout(() => abort.abort(), 50);
    await assert.rejects(pending, (err: unknown) => err instanceof ClientGoneError);
    for (let i = 0; i < 50 && fake.abortedRequests === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(fake.abortedRequests, 1);
  });
});

function nativeBody(
  model: string,
  stream: boolean,
): { raw: Uint8Array<ArrayBuffer>; json: Record<string, unknown> } {
  const json = {
    model,
    max_tokens: 1024,
    stream,
    messages: [{
      role: "user",
      content: [{ type: "text", text: "hi", cache_control: { type: "ephemeral" } }],
    }],
    context_management: { edits: [{ type: "clear_tool_uses_20250919" }] },
    brand_new_beta_field: { keep: true },
  };
  return { raw: new TextEncoder().encode(JSON.stringify(json)), json };
}

const CLIENT_HEADERS = {
  "anthropic-version": "2023-06-01",
  "anthropic-beta": "interleaved-thinking-2025-05-14,context-management-2025-06-27",
  "x-api-key": "sk-client-gateway-key-1234",
  authorization: "Bearer sk-client-gateway-key-1234",
  "x-forwarded-for": "203.0.113.7",
  cookie: "session=abc",
  "user-agent": "claude-cli/2.1.331",
};

Deno.test("forwardNative keeps the raw body and passes only protocol headers", async () => {
  await withFake(async (url, fake) => {
    const body = nativeBody("claude-fake", false);
    const res = await anthropicUpstream.forwardNative!(
      { ...body, stream: false, hints: {} },
      ctx(url, "claude-fake", {
        clientHeaders: CLIENT_HEADERS,
        provider: { headers: { "anthropic-beta": "oauth-2025-04-20", "x-extra": "1" } },
      }),
    );
    assert.equal(res.status, 200);
    const msg = await res.json();
    assert.equal(msg.type, "message");
    assert.ok(res.headers.get("request-id")?.startsWith("req_"));
    const req = fake.requests[0];
    assert.equal(req.rawBody, new TextDecoder().decode(body.raw));
    assert.equal(req.headers.get("x-api-key"), UP_KEY);
    assert.equal(req.headers.get("anthropic-version"), "2023-06-01");
    assert.equal(
      req.headers.get("anthropic-beta"),
      "interleaved-thinking-2025-05-14,context-management-2025-06-27,oauth-2025-04-20",
    );
    assert.equal(req.headers.get("x-extra"), "1");
    for (const h of ["authorization", "x-forwarded-for", "cookie"]) {
      assert.equal(req.headers.get(h), null, h);
    }
  });
});

Deno.test("forwardNative renames an aliased model and keeps everything else", async () => {
  await withFake(async (url, fake) => {
    const body = nativeBody("my-alias", false);
    const res = await anthropicUpstream.forwardNative!(
      { ...body, stream: false, hints: {} },
      ctx(url, "claude-fake", { clientHeaders: CLIENT_HEADERS }),
    );
    await res.body?.cancel();
    assert.equal(fake.requests[0].body.model, "claude-fake");
    assert.deepEqual(fake.requests[0].body.brand_new_beta_field, { keep: true });
  });
});

Deno.test("forwardNative streams unchanged and ends a broken stream with event: error", async () => {
  await withFake(async (url) => {
    const ok = await anthropicUpstream.forwardNative!(
      { ...nativeBody("claude-tools", true), stream: true, hints: {} },
      ctx(url, "claude-tools", { clientHeaders: CLIENT_HEADERS }),
    );
    assert.match(ok.headers.get("content-type") ?? "", /text\/event-stream/);
    const text = await ok.text();
    assert.match(text, /^event: message_start\n/);
    assert.match(text, /"partial_json"/);
    assert.match(text, /event: message_stop\ndata: \{"type":"message_stop"\}\n\n$/);

    const broken = await anthropicUpstream.forwardNative!(
      { ...nativeBody("claude-reset", true), stream: true, hints: {} },
      ctx(url, "claude-reset", { clientHeaders: CLIENT_HEADERS }),
    );
    const brokenText = await broken.text();
    assert.ok(!brokenText.includes('{"type":"con\n'), "the partial event is dropped");
    assert.match(brokenText, /event: error\ndata: \{"type":"error","error":\{"type":"api_error"/);
  });
});

Deno.test("forwardNative relays Anthropic error bodies (429 keeps retry-after, 5xx → 502)", async () => {
  await withFake(async (url) => {
    const limited = await anthropicUpstream.forwardNative!(
      { ...nativeBody("claude-429", false), stream: false, hints: {} },
      ctx(url, "claude-429", { clientHeaders: CLIENT_HEADERS }),
    );
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "7");
    assert.equal(limited.headers.get("anthropic-ratelimit-requests-remaining"), "0");
    assert.deepEqual(await limited.json(), {
      type: "error",
      error: {
        type: "rate_limit_error",
        message: "Number of request tokens has exceeded your per-minute rate limit",
      },
    });
    const overloaded = await anthropicUpstream.forwardNative!(
      { ...nativeBody("claude-529", false), stream: false, hints: {} },
      ctx(url, "claude-529", { clientHeaders: CLIENT_HEADERS }),
    );
    assert.equal(overloaded.status, 502);
    assert.equal((await overloaded.json()).error.type, "overloaded_error");
  });
});
