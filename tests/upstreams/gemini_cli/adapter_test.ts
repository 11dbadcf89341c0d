import assert from "node:assert/strict";
import { geminiCliDriver } from "../../../src/upstreams/gemini_cli/driver.ts";
import { providerSchema } from "../../../src/config/schema.ts";
import { UpstreamError } from "../../../src/errors.ts";
import type { IrEvent, IrRequest } from "../../../src/ir/types.ts";
import {
  countCodeAssistTokens,
  geminiCliUpstream,
} from "../../../src/upstreams/gemini_cli/adapter.ts";
import { codeAssistRoot } from "../../../src/upstreams/gemini_cli/code_assist.ts";
import type { CallContext } from "../../../src/upstreams/types.ts";
import { type FakeCodeAssist, startFakeCodeAssist } from "../../fakes/code_assist_upstream.ts";
import { startFakeGoogleOAuth } from "../../fakes/google_oauth_server.ts";

const TOKEN = "ya29.fake-valid";
const PROJECT = "fake-managed-project-12345";

function ctx(fake: FakeCodeAssist, model: string, extra: Partial<CallContext> = {}): CallContext {
  return {
    provider: providerSchema.parse({
      id: "gcli",
      type: "gemini-cli",
      base_url: fake.url,
      headers: { "x-extra": "1" },
      timeout_ms: 3000,
    }),
    model,
    account: { id: "acc1", accessToken: TOKEN, projectId: PROJECT },
    signal: new AbortController().signal,
    clientHeaders: new Headers({
      "x-forwarded-for": "10.0.0.1",
      cookie: "a=b",
      authorization: "Bearer client-key",
      "x-goog-api-key": "AIzaClientKey",
      "user-agent": "client/1.0",
    }),
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

async function withFake(fn: (fake: FakeCodeAssist) => Promise<void>): Promise<void> {
  const fake = await startFakeCodeAssist({ validTokens: [TOKEN] });
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

function text(events: IrEvent[]): string {
  return events.map((e) => e.type === "text_delta" ? e.text : "").join("");
}

const WEATHER_TOOL = {
  name: "get_weather",
  description: "Weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

Deno.test("base URL: default, override, trailing /v1internal tolerated", () => {
  const p = (base_url?: string) => providerSchema.parse({ id: "g", type: "gemini-cli", base_url });
  assert.equal(codeAssistRoot(p()), "https://cloudcode-pa.googleapis.com/v1internal");
  assert.equal(
    codeAssistRoot(p("https://ca.example/v1internal/")),
    "https://ca.example/v1internal",
  );
  assert.equal(
    codeAssistRoot(p("https://ca.example/proxy")),
    "https://ca.example/proxy/v1internal",
  );
});

Deno.test("send: generateContent envelope, unwrapped answer, headers from scratch", async () => {
  await withFake(async (fake) => {
    const res = await geminiCliUpstream.send(ir(), ctx(fake, "gemini-2.5-flash"));
    assert.equal(res.finishReason, "stop");
    assert.deepEqual(res.content, [{ type: "text", text: "Hello from gemini-2.5-flash: ping" }]);
    assert.deepEqual(res.usage, { inputTokens: 8, outputTokens: 6 });
    assert.equal(res.model, "gemini-2.5-flash");
    assert.equal(res.id, "ca-fake-resp-0001");

    const req = fake.requests[0];
    assert.equal(req.path, "/v1internal:generateContent");
    assert.equal(req.search.toString(), "");
    assert.equal(req.body.model, "gemini-2.5-flash");
    assert.equal(req.body.project, PROJECT);
    assert.match(String(req.body.user_prompt_id), /^[0-9a-f-]{36}$/);
    assert.deepEqual(req.body.request, {
      contents: [{ role: "user", parts: [{ text: "ping" }] }],
      systemInstruction: { parts: [{ text: "be nice" }] },
    });
    // Built from scratch: our token and client identity, the provider's headers, nothing of
    // the client's.
    assert.equal(req.headers.get("authorization"), `Bearer ${TOKEN}`);
    assert.match(
      req.headers.get("user-agent") ?? "",
      /^GeminiCLI\/[\d.]+\/gemini-2\.5-flash \((linux|darwin|win32); (x64|arm64); terminal\)$/,
    );
    assert.equal(req.headers.get("content-type"), "application/json");
    assert.equal(req.headers.get("x-extra"), "1");
    assert.equal(req.headers.get("x-forwarded-for"), null);
    assert.equal(req.headers.get("cookie"), null);
    assert.equal(req.headers.get("x-goog-api-key"), null);
  });
});

Deno.test("send: the envelope matches the fixture (no model inside request)", async () => {
  const expected = JSON.parse(
    await Deno.readTextFile(
      new URL("../../fixtures/gemini_cli/request_envelope.json", import.meta.url),
    ),
  );
  const fake = await startFakeCodeAssist({
    validTokens: [TOKEN],
    userProjects: ["wise-cider-abc12"],
  });
  try {
    const c = ctx(fake, "gemini-2.5-pro-tools");
    c.account = { id: "acc1", accessToken: TOKEN, projectId: "wise-cider-abc12" };
    const res = await geminiCliUpstream.send(
      ir({
        system: [{ type: "text", text: "You are terse." }],
        messages: [
          { role: "user", parts: [{ type: "text", text: "Weather in Paris?" }] },
          {
            role: "assistant",
            parts: [{
              type: "tool_call",
              id: "call_1",
              name: "get_weather",
              arguments: '{"city":"Paris"}',
            }],
          },
          {
            role: "tool",
            parts: [{
              type: "tool_result",
              toolCallId: "call_1",
              content: [{ type: "text", text: "18C" }],
            }],
          },
        ],
        tools: [{
          ...WEATHER_TOOL,
          parameters: { ...WEATHER_TOOL.parameters, additionalProperties: false },
        }],
        toolChoice: { type: "auto" },
        maxTokens: 256,
        temperature: 0.2,
        stream: true,
      }),
      c,
    );
    assert.deepEqual(res.content, [{ type: "text", text: "Tool said: 18C" }]);
    const body = fake.requests[0].body;
    assert.equal("model" in (body.request as Record<string, unknown>), false);
    // The fake needs the `-tools` suffix to answer the tool result; the rest is byte-exact.
    assert.equal(body.model, "gemini-2.5-pro-tools");
    assert.deepEqual({ ...body, model: "gemini-2.5-pro", user_prompt_id: "<uuid>" }, expected);
  } finally {
    await fake.close();
  }
});

Deno.test("stream: streamGenerateContent?alt=sse envelopes (CRLF) → IR events", async () => {
  await withFake(async (fake) => {
    const events = await collect(
      await geminiCliUpstream.stream(ir({ stream: true }), ctx(fake, "gemini-2.5-flash")),
    );
    assert.equal(events[0].type, "start");
    assert.deepEqual(
      events[0].type === "start" && { id: events[0].id, model: events[0].model },
      { id: "ca-fake-resp-0001", model: "gemini-2.5-flash" },
    );
    assert.equal(events.filter((e) => e.type === "text_delta").length, 3);
    assert.equal(text(events), "Hello from gemini-2.5-flash: ping");
    assert.deepEqual(events.at(-1), {
      type: "finish",
      reason: "stop",
      usage: { inputTokens: 8, outputTokens: 6 },
    });
    const req = fake.requests[0];
    assert.equal(req.path, "/v1internal:streamGenerateContent");
    assert.equal(req.search.get("alt"), "sse");
    assert.equal(req.headers.get("accept"), "text/event-stream");
  });
});

Deno.test("tools: function call, then the answer to its result (send and stream)", async () => {
  await withFake(async (fake) => {
    const first = await geminiCliUpstream.send(
      ir({ tools: [WEATHER_TOOL] }),
      ctx(fake, "gemini-2.5-pro-tools"),
    );
    assert.equal(first.finishReason, "tool_calls");
    const call = first.content[0];
    assert.ok(call.type === "tool_call");
    assert.equal(call.name, "get_weather");
    assert.deepEqual(JSON.parse(call.arguments), { city: "Paris" });
    const sent = fake.requests[0].body.request as Record<string, unknown>;
    assert.deepEqual(sent.tools, [{
      functionDeclarations: [{
        name: "get_weather",
        description: "Weather for a city",
        parameters: {
          type: "OBJECT",
          properties: { city: { type: "STRING" } },
          required: ["city"],
        },
      }],
    }]);

    const second = ir({
      tools: [WEATHER_TOOL],
      stream: true,
      messages: [
        { role: "user", parts: [{ type: "text", text: "weather?" }] },
        { role: "assistant", parts: [call] },
        {
          role: "tool",
          parts: [{
            type: "tool_result",
            toolCallId: call.id,
            content: [{ type: "text", text: "sunny, 21C" }],
          }],
        },
      ],
    });
    const events = await collect(
      await geminiCliUpstream.stream(second, ctx(fake, "gemini-2.5-pro-tools")),
    );
    assert.equal(text(events), "Tool said: sunny, 21C");
    assert.deepEqual(events.at(-1), {
      type: "finish",
      reason: "stop",
      usage: { inputTokens: 9, outputTokens: 4 },
    });

    const streamedCall = await collect(
      await geminiCliUpstream.stream(
        ir({ tools: [WEATHER_TOOL], stream: true }),
        ctx(fake, "x-tools"),
      ),
    );
    assert.deepEqual(streamedCall.map((e) => e.type), [
      "start",
      "tool_call_start",
      "tool_call_delta",
      "tool_call_end",
      "finish",
    ]);
    const finish = streamedCall.at(-1);
    assert.equal(finish?.type === "finish" && finish.reason, "tool_calls");
  });
});

Deno.test("429 RESOURCE_EXHAUSTED → UpstreamError 429 with retryAfter from RetryInfo (send and stream)", async () => {
  await withFake(async (fake) => {
    const check = (err: unknown): boolean => {
      assert.ok(err instanceof UpstreamError);
      assert.equal(err.status, 429);
      assert.equal(err.retryAfter, 17);
      assert.equal(err.code, "resource_exhausted");
      assert.match(err.message, /exhausted your capacity/);
      return true;
    };
    await assert.rejects(geminiCliUpstream.send(ir(), ctx(fake, "gemini-2.5-pro-429")), check);
    await assert.rejects(
      geminiCliUpstream.stream(ir({ stream: true }), ctx(fake, "gemini-2.5-pro-429")),
      check,
    );
  });
});

Deno.test("401 on an expired token → UpstreamError 401; a refreshed token then works", async () => {
  const fake = await startFakeCodeAssist({ validTokens: [] });
  const google = await startFakeGoogleOAuth({
    refreshTokens: ["1//r"],
    onIssue: (t) => fake.validTokens.add(t),
  });
  try {
    const c = ctx(fake, "gemini-2.5-flash");
    await assert.rejects(geminiCliUpstream.send(ir(), c), (err: unknown) => {
      assert.ok(err instanceof UpstreamError);
      assert.equal(err.status, 401);
      assert.equal(err.kind, "authentication");
      assert.doesNotMatch(err.message, /ya29\.fake-valid/);
      return true;
    });
    await assert.rejects(geminiCliUpstream.stream(ir({ stream: true }), c), { status: 401 });

    // What the caller does on a 401: refresh once, retry with the new token.
    const refreshed = await geminiCliDriver.refresh(
      { kind: "oauth", access_token: TOKEN, refresh_token: "1//r", expiry_date: 0 },
      {
        provider: providerSchema.parse({
          id: "gcli",
          type: "gemini-cli",
          token_url: google.tokenUrl,
        }),
        signal: new AbortController().signal,
      },
    );
    c.account = { id: "acc1", accessToken: refreshed.access_token, projectId: PROJECT };
    const res = await geminiCliUpstream.send(ir(), c);
    assert.equal(res.finishReason, "stop");
    assert.equal(fake.requests.at(-1)?.headers.get("authorization"), "Bearer ya29.fake-1");
  } finally {
    await google.close();
    await fake.close();
  }
});

Deno.test("403 (unknown project) stays 403; 5xx → 502", async () => {
  await withFake(async (fake) => {
    const c = ctx(fake, "gemini-2.5-flash");
    c.account = { id: "acc1", accessToken: TOKEN, projectId: "someone-elses" };
    await assert.rejects(geminiCliUpstream.send(ir(), c), (err: unknown) => {
      assert.ok(err instanceof UpstreamError);
      assert.equal(err.status, 403);
      assert.match(err.message, /PERMISSION_DENIED/);
      return true;
    });
    await assert.rejects(geminiCliUpstream.send(ir(), ctx(fake, "gemini-2.5-pro-500")), {
      status: 502,
    });
  });
});

Deno.test("no account or no project → a 503 (as every adapter) without calling upstream", async () => {
  await withFake(async (fake) => {
    const none = ctx(fake, "gemini-2.5-flash");
    delete none.account;
    await assert.rejects(geminiCliUpstream.send(ir(), none), (err: unknown) => {
      assert.ok(err instanceof UpstreamError);
      assert.equal(err.status, 503);
      assert.equal(err.code, "no_usable_account");
      return true;
    });
    const noProject = ctx(fake, "gemini-2.5-flash", {
      account: { id: "acc1", accessToken: TOKEN },
    });
    await assert.rejects(geminiCliUpstream.stream(ir(), noProject), {
      status: 503,
      code: "account_not_prepared",
    });
    assert.equal(fake.requests.length, 0);
  });
});

Deno.test("stream: client abort cancels the upstream stream", async () => {
  await withFake(async (fake) => {
    const controller = new AbortController();
    const stream = await geminiCliUpstream.stream(
      ir({ stream: true }),
      ctx(fake, "gemini-2.5-flash", { signal: controller.signal }),
    );
    const reader = stream.getReader();
    const first = await reader.read();
    assert.equal(first.value?.type, "start");
    controller.abort();
    await reader.cancel();
  });
});

Deno.test("countTokens: Code Assist countTokens with models/ prefix", async () => {
  await withFake(async (fake) => {
    const n = await countCodeAssistTokens(ir(), ctx(fake, "gemini-2.5-flash"));
    assert.equal(n, 4);
    const req = fake.requests[0];
    assert.equal(req.path, "/v1internal:countTokens");
    assert.deepEqual(req.body, {
      request: {
        model: "models/gemini-2.5-flash",
        contents: [{ role: "user", parts: [{ text: "ping" }] }],
      },
    });
  });
});
