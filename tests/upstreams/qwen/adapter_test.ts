import assert from "node:assert/strict";
import { qwenDriver } from "../../../src/upstreams/qwen/driver.ts";
import type { OAuthCredential } from "../../../src/accounts/types.ts";
import { providerSchema } from "../../../src/config/schema.ts";
import { UpstreamError } from "../../../src/errors.ts";
import type { IrEvent, IrRequest } from "../../../src/ir/types.ts";
import { qwenBaseUrl, qwenUpstream } from "../../../src/upstreams/qwen/adapter.ts";
import { qwenApiBaseUrl } from "../../../src/upstreams/qwen/base_url.ts";
import type { CallContext } from "../../../src/upstreams/types.ts";
import { type FakeQwen, startFakeQwen } from "../../fakes/qwen_upstream.ts";

function ctx(
  fake: FakeQwen,
  model: string,
  token: string,
  extra: Partial<CallContext> = {},
): CallContext {
  return {
    provider: providerSchema.parse({
      id: "qw",
      type: "qwen",
      headers: { "x-extra": "1" },
      timeout_ms: 3000,
    }),
    model,
    // resource_url as the token endpoint returns it for this fake (with scheme, without /v1).
    account: { id: "acc1", accessToken: token, resourceUrl: fake.url },
    signal: new AbortController().signal,
    clientHeaders: new Headers({
      "x-forwarded-for": "10.0.0.1",
      cookie: "a=b",
      authorization: "Bearer client-gateway-key",
    }),
    ...extra,
  };
}

function ir(extra: Partial<IrRequest> = {}): IrRequest {
  return {
    model: "alias",
    system: [{ type: "text", text: "be brief" }],
    messages: [{ role: "user", parts: [{ type: "text", text: "ping" }] }],
    tools: [],
    stop: [],
    stream: false,
    ...extra,
  };
}

const WEATHER_TOOL = {
  name: "get_weather",
  description: "Weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } } },
};

async function withFake(fn: (fake: FakeQwen) => Promise<void>): Promise<void> {
  const fake = await startFakeQwen();
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

function assertNoClientHeaders(headers: Headers, token: string): void {
  assert.equal(headers.get("authorization"), `Bearer ${token}`);
  assert.equal(headers.get("x-forwarded-for"), null);
  assert.equal(headers.get("cookie"), null);
}

Deno.test("qwen base URL: resource_url with or without scheme and /v1; base_url wins", () => {
  assert.equal(qwenApiBaseUrl(undefined), "https://portal.qwen.ai/v1");
  assert.equal(qwenApiBaseUrl("portal.qwen.ai"), "https://portal.qwen.ai/v1");
  assert.equal(qwenApiBaseUrl("https://portal.qwen.ai/v1/"), "https://portal.qwen.ai/v1");
  assert.equal(
    qwenApiBaseUrl(" dashscope.aliyuncs.com/compatible-mode "),
    "https://dashscope.aliyuncs.com/compatible-mode/v1",
  );
  assert.equal(qwenApiBaseUrl("http://127.0.0.1:8080"), "http://127.0.0.1:8080/v1");
  for (
    const bad of [
      "ftp://x.example",
      "https://u:p@x.example",
      "https://x.example/?a=1",
      "javascript:alert(1)",
      "http://portal.qwen.ai",
    ]
  ) {
    assert.throws(() => qwenApiBaseUrl(bad), /resource_url must be/);
  }
  const c = (base_url?: string, resourceUrl?: string): CallContext => ({
    provider: providerSchema.parse({ id: "qw", type: "qwen", base_url }),
    model: "m",
    account: { id: "a", accessToken: "t", ...(resourceUrl ? { resourceUrl } : {}) },
    signal: new AbortController().signal,
    clientHeaders: new Headers(),
  });
  assert.equal(qwenBaseUrl(c()), "https://portal.qwen.ai/v1");
  assert.equal(qwenBaseUrl(c(undefined, "eu.qwen.example")), "https://eu.qwen.example/v1");
  assert.equal(
    qwenBaseUrl(c("https://proxy.example/qwen/v1/", "eu.qwen.example")),
    "https://proxy.example/qwen/v1",
  );
  assert.throws(
    () => qwenBaseUrl(c(undefined, "https://u:p@x")),
    (e: unknown) => e instanceof UpstreamError && e.status === 502,
  );
});

Deno.test("qwen send: chat completion via the IR, bearer from the account, headers from scratch", async () => {
  await withFake(async (fake) => {
    const { access_token } = fake.issue();
    const res = await qwenUpstream.send(ir(), ctx(fake, "qwen3-coder-plus", access_token));
    assert.equal(res.finishReason, "stop");
    assert.deepEqual(res.content, [{ type: "text", text: "Hello from qwen3-coder-plus: ping" }]);
    assert.deepEqual(res.usage, { inputTokens: 12, outputTokens: 6 });
    const req = fake.requests[0];
    assert.equal(req.path, "/v1/chat/completions");
    assert.equal(req.body.model, "qwen3-coder-plus");
    assert.deepEqual(req.body.messages, [
      { role: "system", content: "be brief" },
      { role: "user", content: "ping" },
    ]);
    assertNoClientHeaders(req.headers, access_token);
    assert.equal(req.headers.get("x-dashscope-authtype"), "qwen-oauth");
    assert.equal(req.headers.get("x-extra"), "1");
  });
});

Deno.test("qwen stream: SSE chunks → IR events with usage on finish", async () => {
  await withFake(async (fake) => {
    const { access_token } = fake.issue();
    const events = await collect(
      await qwenUpstream.stream(ir({ stream: true }), ctx(fake, "qwen3-coder-plus", access_token)),
    );
    assert.equal(events[0].type, "start");
    const deltas = events.filter((e) => e.type === "text_delta");
    assert.ok(deltas.length >= 2, "text arrives in several chunks");
    assert.equal(
      deltas.map((e) => e.type === "text_delta" ? e.text : "").join(""),
      "Hello from qwen3-coder-plus: ping",
    );
    assert.deepEqual(events.at(-1), {
      type: "finish",
      reason: "stop",
      usage: { inputTokens: 12, outputTokens: 6 },
    });
    assert.equal(fake.requests[0].body.stream, true);
    assert.deepEqual(fake.requests[0].body.stream_options, { include_usage: true });
  });
});

Deno.test("qwen tools: a tool call, then the tool result answered in text (send and stream)", async () => {
  await withFake(async (fake) => {
    const { access_token } = fake.issue();
    const c = ctx(fake, "qwen3-coder-plus-tools", access_token);
    const first = await qwenUpstream.send(ir({ tools: [WEATHER_TOOL] }), c);
    assert.equal(first.finishReason, "tool_calls");
    const call = first.content.find((p) => p.type === "tool_call");
    assert.ok(call && call.type === "tool_call");
    assert.equal(call.name, "get_weather");
    assert.deepEqual(JSON.parse(call.arguments), { city: "Paris" });
    assert.equal(
      (fake.requests[0].body.tools as Array<{ function: { name: string } }>)[0].function.name,
      "get_weather",
    );

    const events = await collect(
      await qwenUpstream.stream(ir({ tools: [WEATHER_TOOL], stream: true }), c),
    );
    const start = events.find((e) => e.type === "tool_call_start");
    assert.ok(start && start.type === "tool_call_start" && start.name === "get_weather");
    assert.equal(
      events.map((e) => e.type === "tool_call_delta" ? e.argumentsDelta : "").join(""),
      '{"city":"Paris"}',
    );
    assert.ok(events.some((e) => e.type === "tool_call_end"));
    assert.deepEqual(events.at(-1)?.type === "finish" && events.at(-1), {
      type: "finish",
      reason: "tool_calls",
      usage: { inputTokens: 12, outputTokens: 6 },
    });

    const second = await qwenUpstream.send(
      ir({
        tools: [WEATHER_TOOL],
        messages: [
          { role: "user", parts: [{ type: "text", text: "weather in Paris?" }] },
          { role: "assistant", parts: [call] },
          {
            role: "tool",
            parts: [{
              type: "tool_result",
              toolCallId: call.id,
              content: [{ type: "text", text: "sunny, 21°C" }],
            }],
          },
        ],
      }),
      c,
    );
    assert.deepEqual(second.content, [{ type: "text", text: "Tool said: sunny, 21°C" }]);
  });
});

Deno.test("qwen errors: 429 keeps Retry-After; 5xx → 502; an invalid token → 401", async () => {
  await withFake(async (fake) => {
    const { access_token } = fake.issue();
    await assert.rejects(
      () => qwenUpstream.send(ir(), ctx(fake, "qwen3-coder-plus-429", access_token)),
      (err: unknown) => {
        assert.ok(err instanceof UpstreamError);
        assert.equal(err.status, 429);
        assert.equal(err.retryAfter, 7);
        assert.match(err.message, /quota/);
        return true;
      },
    );
    await assert.rejects(
      () => qwenUpstream.send(ir(), ctx(fake, "qwen3-coder-plus-500", access_token)),
      (err: unknown) => err instanceof UpstreamError && err.status === 502,
    );
    fake.expireAccessTokens();
    for (const stream of [false, true]) {
      await assert.rejects(
        () =>
          stream
            ? qwenUpstream.stream(ir({ stream }), ctx(fake, "qwen3-coder-plus", access_token))
            : qwenUpstream.send(ir(), ctx(fake, "qwen3-coder-plus", access_token)),
        (err: unknown) => {
          assert.ok(err instanceof UpstreamError);
          assert.equal(err.status, 401);
          assert.ok(!err.message.includes(access_token));
          return true;
        },
      );
    }
    await assert.rejects(
      () =>
        qwenUpstream.send(ir(), {
          ...ctx(fake, "qwen3-coder-plus", access_token),
          account: undefined,
        }),
      (err: unknown) => err instanceof UpstreamError && err.status === 503,
    );
  });
});

Deno.test("qwen forwardNative: raw bytes with unknown fields; alias renames; stream relayed", async () => {
  await withFake(async (fake) => {
    const { access_token } = fake.issue();
    const json = {
      model: "qwen3-coder-plus",
      messages: [{ role: "user", content: "hi" }],
      enable_thinking: true,
      metadata: { sessionId: "s-1" },
    };
    const raw = new TextEncoder().encode(JSON.stringify(json, null, 1));
    const res = await qwenUpstream.forwardNative!(
      { raw, json, stream: false, hints: {} },
      ctx(fake, "qwen3-coder-plus", access_token),
    );
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.choices[0].message.content, "Hello from qwen3-coder-plus: hi");
    assert.equal(fake.requests[0].rawBody, new TextDecoder().decode(raw), "bytes untouched");
    assertNoClientHeaders(fake.requests[0].headers, access_token);
    assert.equal(fake.requests[0].headers.get("x-dashscope-authtype"), "qwen-oauth");

    const streamed = await qwenUpstream.forwardNative!(
      {
        raw,
        json: { ...json, model: "my-alias", stream: true },
        stream: true,
        hints: {},
      },
      ctx(fake, "qwen3-coder-plus", access_token),
    );
    assert.match(streamed.headers.get("content-type") ?? "", /text\/event-stream/);
    const text = await streamed.text();
    assert.match(text, /data: \[DONE\]/);
    const renamed = fake.requests[1].body;
    assert.equal(renamed.model, "qwen3-coder-plus");
    assert.equal(renamed.enable_thinking, true, "unknown fields survive a rename");
    assert.deepEqual(renamed.metadata, { sessionId: "s-1" });
  });
});

Deno.test("qwen forwardNative: 401 is thrown for the refresh-and-retry; 429 relayed with Retry-After", async () => {
  await withFake(async (fake) => {
    const { access_token } = fake.issue();
    const json = { model: "qwen3-coder-plus-429", messages: [{ role: "user", content: "hi" }] };
    const raw = new TextEncoder().encode(JSON.stringify(json));
    const limited = await qwenUpstream.forwardNative!(
      { raw, json, stream: false, hints: {} },
      ctx(fake, "qwen3-coder-plus-429", access_token),
    );
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "7");
    await limited.body?.cancel();

    await assert.rejects(
      () =>
        qwenUpstream.forwardNative!(
          { raw, json, stream: false, hints: {} },
          ctx(fake, "qwen3-coder-plus", "stale-token-0123456789"),
        ),
      (err: unknown) =>
        err instanceof UpstreamError && err.status === 401 &&
        !err.message.includes("stale-token-0123456789"),
    );
  });
});

Deno.test("qwen end to end: refresh rotates the token, the lease uses the returned resource_url", async () => {
  await withFake(async (fake) => {
    const creds = fake.issue();
    const file = { ...creds, token_type: "Bearer", resource_url: "portal.qwen.ai", expiry_date: 1 };
    const credential = qwenDriver.parseCredential(file) as OAuthCredential;
    const provider = providerSchema.parse({ id: "qw", type: "qwen", token_url: fake.tokenUrl });
    const refreshed = await qwenDriver.refresh(credential, {
      provider,
      signal: new AbortController().signal,
    });
    // The lease carries what the store keeps: the new token and the returned resource_url
    // (this fake's origin, so the call below only succeeds if it was used).
    const c: CallContext = {
      provider,
      model: "qwen3-coder-plus",
      account: {
        id: "acc1",
        accessToken: refreshed.access_token,
        resourceUrl: refreshed.resource_url,
      },
      signal: new AbortController().signal,
      clientHeaders: new Headers(),
    };
    const res = await qwenUpstream.send(ir(), c);
    assert.equal(res.finishReason, "stop");
    assert.equal(refreshed.resource_url, fake.url);
  });
});
