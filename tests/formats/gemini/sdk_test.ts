import assert from "node:assert/strict";
import { ApiError, GoogleGenAI } from "@google/genai";
import { geminiFormat, geminiModelFromPath } from "../../../src/formats/gemini/format.ts";
import type { IrEvent } from "../../../src/ir/types.ts";

/**
 * The official SDK (@google/genai) reads what the gateway writes: a tiny loopback server turns
 * canned IR events into Gemini wire bytes with the format module and the SDK parses them.
 */

const EVENTS: Record<string, IrEvent[]> = {
  "gw-text": [
    { type: "start", id: "r1", model: "gw-text", created: 1 },
    { type: "reasoning_delta", text: "Thinking about it.", origin: "anthropic" },
    { type: "text_delta", text: "Hello, " },
    { type: "text_delta", text: "wörld 🙂" },
    {
      type: "finish",
      reason: "stop",
      usage: { inputTokens: 7, outputTokens: 5, reasoningTokens: 2 },
    },
  ],
  "gw-tools": [
    { type: "start", id: "r2", model: "gw-tools", created: 1 },
    { type: "tool_call_start", index: 0, id: "toolu_1", name: "get_weather" },
    { type: "tool_call_delta", index: 0, argumentsDelta: '{"city":' },
    { type: "tool_call_delta", index: 0, argumentsDelta: '"Paris"}' },
    { type: "tool_call_end", index: 0 },
    { type: "finish", reason: "tool_calls" },
  ],
  "gw-error": [
    { type: "start", id: "r3", model: "gw-error", created: 1 },
    { type: "text_delta", text: "partial" },
    { type: "error", status: 503, message: "upstream overloaded" },
  ],
};

async function withGateway(fn: (ai: GoogleGenAI, seen: URL[]) => Promise<void>): Promise<void> {
  const seen: URL[] = [];
  const ac = new AbortController();
  const { promise, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: ({ port }) => resolve(port),
  }, async (req) => {
    const url = new URL(req.url);
    seen.push(url);
    const route = geminiModelFromPath(url.pathname);
    if (!route) return new Response("not found", { status: 404 });
    const sse = url.searchParams.get("alt") === "sse";
    const stream = route.method === "streamGenerateContent";
    const ir = geminiFormat.toIr(await req.json(), { model: route.model, stream, sse });
    const events = EVENTS[route.model];
    if (!stream) {
      return Response.json(geminiFormat.fromIrResponse({
        id: "r0",
        model: route.model,
        created: 1,
        content: [{ type: "text", text: `echo: ${ir.messages.length} message(s)` }],
        finishReason: "stop",
        usage: { inputTokens: 1, outputTokens: 2 },
      }, ir));
    }
    const encoded = geminiFormat.encodeStream(ir, { model: route.model, stream, sse });
    return new Response(
      ReadableStream.from(events).pipeThrough(new TransformStream(encoded.transformer)),
      {
        headers: { "content-type": encoded.contentType },
      },
    );
  });
  const port = await promise;
  try {
    const ai = new GoogleGenAI({
      apiKey: "AIza-test-key-0000000000000000",
      httpOptions: { baseUrl: `http://127.0.0.1:${port}`, apiVersion: "v1beta" },
    });
    await fn(ai, seen);
  } finally {
    ac.abort();
    await server.finished;
  }
}

Deno.test("@google/genai parses the gateway's SSE stream (text, thoughts, usage)", async () => {
  await withGateway(async (ai, seen) => {
    const stream = await ai.models.generateContentStream({ model: "gw-text", contents: "hi" });
    let text = "";
    const thoughts: string[] = [];
    let last;
    for await (const chunk of stream) {
      for (const part of chunk.candidates?.[0]?.content?.parts ?? []) {
        if (part.thought) thoughts.push(part.text ?? "");
        else text += part.text ?? "";
      }
      last = chunk;
    }
    assert.equal(text, "Hello, wörld 🙂");
    assert.deepEqual(thoughts, ["Thinking about it."]);
    assert.equal(last?.candidates?.[0]?.finishReason, "STOP");
    assert.equal(last?.usageMetadata?.promptTokenCount, 7);
    assert.equal(last?.usageMetadata?.candidatesTokenCount, 3);
    assert.equal(last?.usageMetadata?.thoughtsTokenCount, 2);
    assert.equal(last?.responseId, "r1");
    assert.equal(seen[0].pathname, "/v1beta/models/gw-text:streamGenerateContent");
    assert.equal(seen[0].searchParams.get("alt"), "sse");
  });
});

Deno.test("@google/genai reads a whole function call and records the chat turn", async () => {
  await withGateway(async (ai) => {
    const chat = ai.chats.create({ model: "gw-tools" });
    const calls = [];
    for await (const chunk of await chat.sendMessageStream({ message: "weather?" })) {
      calls.push(...(chunk.functionCalls ?? []));
    }
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, "get_weather");
    assert.deepEqual(calls[0].args, { city: "Paris" });
    // The SDK keeps the model turn only if every chunk was valid and one had a finishReason.
    // (It keeps one model content per chunk, as with Google's own streams.)
    const [user, ...model] = chat.getHistory();
    assert.equal(user.role, "user");
    assert.ok(model.length > 0 && model.every((c) => c.role === "model"));
    assert.ok(model.some((c) => c.parts?.some((p) => p.functionCall?.name === "get_weather")));
  });
});

Deno.test("@google/genai raises the in-stream error element as an ApiError", async () => {
  await withGateway(async (ai) => {
    const stream = await ai.models.generateContentStream({ model: "gw-error", contents: "hi" });
    let text = "";
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) text += chunk.text ?? "";
      })(),
      (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.status, 503);
        assert.match(err.message, /upstream overloaded/);
        return true;
      },
    );
    assert.equal(text, "partial");
  });
});

Deno.test("@google/genai parses the non-streaming answer", async () => {
  await withGateway(async (ai) => {
    const res = await ai.models.generateContent({ model: "gw-text", contents: "hi" });
    assert.equal(res.text, "echo: 1 message(s)");
    assert.equal(res.candidates?.[0]?.finishReason, "STOP");
  });
});
