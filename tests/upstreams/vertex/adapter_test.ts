import assert from "node:assert/strict";
import { vertexDriver } from "../../../src/upstreams/vertex/driver.ts";
import { providerSchema } from "../../../src/config/schema.ts";
import { UpstreamError } from "../../../src/errors.ts";
import type { IrEvent, IrRequest } from "../../../src/ir/types.ts";
import type { CallContext } from "../../../src/upstreams/types.ts";
import { vertexBaseUrl, vertexUpstream, vertexUrl } from "../../../src/upstreams/vertex/adapter.ts";
import {
  createTestServiceAccount,
  type FakeVertex,
  startFakeVertex,
} from "../../fakes/vertex_upstream.ts";

const PROJECT = "proj-vx-1";

interface Env {
  fake: FakeVertex;
  token: string;
  ctx(model: string, extra?: Partial<CallContext>, provider?: Record<string, unknown>): CallContext;
}

// One key pair for all tests (RSA generation is the slow part); each fake registers it.
const SA = await createTestServiceAccount({
  tokenUri: "https://oauth2.googleapis.com/token",
  projectId: PROJECT,
});

/** A fake, a service account it trusts, and a token minted by the real driver. */
async function withVertex(fn: (env: Env) => Promise<void>): Promise<void> {
  const fake = await startFakeVertex();
  try {
    fake.register(SA);
    const credential = vertexDriver.parseCredential(SA.keyFile);
    const { access_token: token } = await vertexDriver.refresh(credential, {
      provider: providerSchema.parse({ id: "vx", type: "vertex", token_url: fake.tokenUrl }),
      signal: new AbortController().signal,
    });
    await fn({
      fake,
      token,
      ctx: (model, extra = {}, provider = {}) => ({
        provider: providerSchema.parse({
          id: "vx",
          type: "vertex",
          base_url: fake.url,
          headers: { "x-extra": "1" },
          timeout_ms: 3000,
          ...provider,
        }),
        model,
        account: { id: "acc1", accessToken: token, projectId: PROJECT },
        signal: new AbortController().signal,
        clientHeaders: new Headers({
          "x-forwarded-for": "10.0.0.1",
          cookie: "a=b",
          "x-goog-api-key": "AIzaClientKey-should-not-pass",
        }),
        ...extra,
      }),
    });
  } finally {
    await fake.close();
  }
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

async function collect(stream: ReadableStream<IrEvent>): Promise<IrEvent[]> {
  const out: IrEvent[] = [];
  for await (const e of stream) out.push(e);
  return out;
}

function modelPath(location: string, model: string, method: string): string {
  return `/v1/projects/${PROJECT}/locations/${location}/publishers/google/models/${model}:${method}`;
}

Deno.test("vertex URLs: regional and global hosts, base_url override, project and model in the path", () => {
  const c = (provider: Record<string, unknown>, projectId?: string): CallContext => ({
    provider: providerSchema.parse({ id: "vx", type: "vertex", ...provider }),
    model: "models/gemini-2.5-pro",
    account: { id: "a", accessToken: "t", ...(projectId ? { projectId } : {}) },
    signal: new AbortController().signal,
    clientHeaders: new Headers(),
  });
  assert.equal(vertexBaseUrl(c({})), "https://us-central1-aiplatform.googleapis.com");
  assert.equal(
    vertexBaseUrl(c({ location: "europe-west4" })),
    "https://europe-west4-aiplatform.googleapis.com",
  );
  assert.equal(vertexBaseUrl(c({ location: "global" })), "https://aiplatform.googleapis.com");
  assert.equal(
    vertexBaseUrl(c({ base_url: "https://proxy.example/vertex/v1/" })),
    "https://proxy.example/vertex",
  );
  assert.equal(
    vertexUrl(c({}, "p1"), "generateContent", false),
    "https://us-central1-aiplatform.googleapis.com/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent",
  );
  assert.equal(
    vertexUrl(c({ location: "global" }, "p1"), "streamGenerateContent", true),
    "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
  );
  // The account's project wins; the provider's is the fallback; none at all is an error.
  assert.match(vertexUrl(c({ project_id: "cfg" }), "generateContent", false), /projects\/cfg\//);
  assert.match(
    vertexUrl(c({ project_id: "cfg" }, "acct"), "generateContent", false),
    /projects\/acct\//,
  );
  assert.throws(
    () => vertexUrl(c({}), "generateContent", false),
    (e: unknown) => e instanceof UpstreamError && e.code === "vertex_project_missing",
  );
});

Deno.test("vertex send: generateContent with the minted bearer, headers from scratch", async () => {
  await withVertex(async ({ fake, token, ctx }) => {
    const res = await vertexUpstream.send(ir(), ctx("gemini-2.5-flash"));
    assert.equal(res.finishReason, "stop");
    assert.deepEqual(res.content, [{ type: "text", text: "Hello from gemini-2.5-flash: ping" }]);
    assert.deepEqual(res.usage, { inputTokens: 8, outputTokens: 6 });
    const req = fake.requests[0];
    assert.equal(req.path, modelPath("us-central1", "gemini-2.5-flash", "generateContent"));
    assert.equal(req.headers.get("authorization"), `Bearer ${token}`);
    assert.equal(req.headers.get("x-extra"), "1");
    for (const h of ["x-forwarded-for", "cookie", "x-goog-api-key"]) {
      assert.equal(req.headers.get(h), null, `${h} must not be forwarded`);
    }
    assert.deepEqual(req.body.systemInstruction, { parts: [{ text: "be brief" }] });
    assert.deepEqual(req.body.contents, [{ role: "user", parts: [{ text: "ping" }] }]);
  });
});

Deno.test("vertex stream: alt=sse upstream → IR events, usage once on finish; location global", async () => {
  await withVertex(async ({ fake, ctx }) => {
    const events = await collect(
      await vertexUpstream.stream(
        ir({ stream: true }),
        ctx("gemini-2.5-flash", {}, { location: "global" }),
      ),
    );
    assert.equal(
      fake.requests[0].path,
      modelPath("global", "gemini-2.5-flash", "streamGenerateContent"),
    );
    assert.equal(fake.requests[0].search.get("alt"), "sse");
    assert.equal(events[0].type, "start");
    const deltas = events.filter((e) => e.type === "text_delta");
    assert.equal(deltas.length, 3);
    assert.equal(
      deltas.map((e) => e.type === "text_delta" ? e.text : "").join(""),
      "Hello from gemini-2.5-flash: ping",
    );
    assert.deepEqual(events.at(-1), {
      type: "finish",
      reason: "stop",
      usage: { inputTokens: 8, outputTokens: 6 },
    });
    assert.equal(events.filter((e) => e.type === "finish").length, 1);
  });
});

Deno.test("vertex tools: functionCall → IR tool call; functionResponse → text (send and stream)", async () => {
  await withVertex(async ({ fake, ctx }) => {
    const c = ctx("gemini-2.5-pro-tools");
    const first = await vertexUpstream.send(ir({ tools: [WEATHER_TOOL] }), c);
    assert.equal(first.finishReason, "tool_calls");
    const call = first.content.find((p) => p.type === "tool_call");
    assert.ok(call && call.type === "tool_call");
    assert.equal(call.name, "get_weather");
    assert.deepEqual(JSON.parse(call.arguments), { city: "Paris" });
    const decl = (fake.requests[0].body.tools as Array<{ functionDeclarations: unknown[] }>)[0];
    assert.equal((decl.functionDeclarations[0] as { name: string }).name, "get_weather");

    const events = await collect(
      await vertexUpstream.stream(ir({ tools: [WEATHER_TOOL], stream: true }), c),
    );
    const start = events.find((e) => e.type === "tool_call_start");
    assert.ok(start && start.type === "tool_call_start" && start.name === "get_weather");
    assert.deepEqual(
      events.map((e) => e.type).filter((t) => t.startsWith("tool_call")),
      ["tool_call_start", "tool_call_delta", "tool_call_end"],
    );
    assert.equal(events.at(-1)?.type === "finish" && events.at(-1)?.type, "finish");

    const second = await vertexUpstream.send(
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
              name: "get_weather",
              content: [{ type: "text", text: "sunny" }],
            }],
          },
        ],
      }),
      c,
    );
    assert.deepEqual(second.content, [{ type: "text", text: "Tool said: sunny" }]);
    const last =
      (fake.requests[2].body.contents as Array<{ parts: Array<Record<string, unknown>> }>)
        .at(-1);
    assert.deepEqual(last?.parts[0].functionResponse, {
      id: call.id,
      name: "get_weather",
      response: { result: "sunny" },
    });
  });
});

Deno.test("vertex errors: 429 RetryInfo → retryAfter 17; 500 → 502; wrong project → 403; bad token → 401", async () => {
  await withVertex(async ({ fake, token, ctx }) => {
    await assert.rejects(
      () => vertexUpstream.send(ir(), ctx("gemini-2.5-flash-429")),
      (err: unknown) => {
        assert.ok(err instanceof UpstreamError);
        assert.equal(err.status, 429);
        assert.equal(err.retryAfter, 17);
        assert.equal(err.code, "resource_exhausted");
        return true;
      },
    );
    await assert.rejects(
      () => vertexUpstream.stream(ir({ stream: true }), ctx("gemini-2.5-flash-500")),
      (err: unknown) => err instanceof UpstreamError && err.status === 502,
    );
    await assert.rejects(
      () =>
        vertexUpstream.send(
          ir(),
          ctx("gemini-2.5-flash", { account: { id: "a", accessToken: token, projectId: "other" } }),
        ),
      (err: unknown) => err instanceof UpstreamError && err.status === 403,
    );
    fake.expireAccessTokens();
    for (const stream of [false, true]) {
      await assert.rejects(
        () =>
          stream
            ? vertexUpstream.stream(ir({ stream }), ctx("gemini-2.5-flash"))
            : vertexUpstream.send(ir(), ctx("gemini-2.5-flash")),
        (err: unknown) => {
          assert.ok(err instanceof UpstreamError);
          assert.equal(err.status, 401);
          assert.match(err.message, /^Vertex upstream answered 401 UNAUTHENTICATED/);
          assert.ok(!err.message.includes(token));
          return true;
        },
      );
    }
    await assert.rejects(
      () => vertexUpstream.send(ir(), ctx("gemini-2.5-flash", { account: undefined })),
      (err: unknown) => err instanceof UpstreamError && err.status === 503,
    );
  });
});

Deno.test("vertex forwardNative: raw Gemini bytes (unknown fields kept); SSE, JSON array and JSON", async () => {
  await withVertex(async ({ fake, token, ctx }) => {
    const json = {
      contents: [{ role: "user", parts: [{ text: "hi" }] }],
      labels: { team: "search" },
      generationConfig: { temperature: 0.2, mediaResolution: "MEDIA_RESOLUTION_LOW" },
    };
    const raw = new TextEncoder().encode(JSON.stringify(json, null, 2));
    const rawText = new TextDecoder().decode(raw);

    const sse = await vertexUpstream.forwardNative!(
      { raw, json, stream: true, hints: { stream: true, sse: true } },
      ctx("gemini-2.5-flash"),
    );
    assert.equal(sse.status, 200);
    assert.equal(sse.headers.get("content-type"), "text/event-stream");
    const sseText = await sse.text();
    assert.equal(sseText.split("data: ").length - 1, 3);
    assert.equal(
      fake.requests[0].path,
      modelPath("us-central1", "gemini-2.5-flash", "streamGenerateContent"),
    );
    assert.equal(fake.requests[0].search.get("alt"), "sse");
    assert.equal(fake.requests[0].rawBody, rawText, "bytes untouched");
    assert.equal(fake.requests[0].headers.get("authorization"), `Bearer ${token}`);
    assert.equal(fake.requests[0].headers.get("x-forwarded-for"), null);
    assert.equal(fake.requests[0].headers.get("cookie"), null);

    const arr = await vertexUpstream.forwardNative!(
      { raw, json, stream: true, hints: { stream: true } },
      ctx("gemini-2.5-flash"),
    );
    const parsed = JSON.parse(await arr.text());
    assert.ok(Array.isArray(parsed) && parsed.length === 3);
    assert.equal(fake.requests[1].search.get("alt"), null);

    const one = await vertexUpstream.forwardNative!(
      { raw, json, stream: false, hints: {} },
      ctx("gemini-2.5-flash"),
    );
    const body = await one.json();
    assert.equal(body.candidates[0].content.parts[0].text, "Hello from gemini-2.5-flash: hi");
    assert.equal(body.usageMetadata.trafficType, "ON_DEMAND", "Vertex-only fields come back");
    assert.equal(
      fake.requests[2].path,
      modelPath("us-central1", "gemini-2.5-flash", "generateContent"),
    );
  });
});

Deno.test("vertex forwardNative: Google errors relayed with Retry-After; 401 thrown for the refresh", async () => {
  await withVertex(async ({ fake, ctx }) => {
    const json = { contents: [{ role: "user", parts: [{ text: "hi" }] }] };
    const raw = new TextEncoder().encode(JSON.stringify(json));
    const limited = await vertexUpstream.forwardNative!(
      { raw, json, stream: false, hints: {} },
      ctx("gemini-2.5-flash-429"),
    );
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "17");
    assert.equal((await limited.json()).error.status, "RESOURCE_EXHAUSTED");

    const server = await vertexUpstream.forwardNative!(
      { raw, json, stream: false, hints: {} },
      ctx("gemini-2.5-flash-500"),
    );
    assert.equal(server.status, 502);
    await server.body?.cancel();

    fake.expireAccessTokens();
    await assert.rejects(
      () =>
        vertexUpstream.forwardNative!(
          { raw, json, stream: true, hints: { stream: true, sse: true } },
          ctx("gemini-2.5-flash"),
        ),
      (err: unknown) => err instanceof UpstreamError && err.status === 401,
    );
  });
});
