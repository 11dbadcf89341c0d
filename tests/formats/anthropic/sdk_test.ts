import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { irResponseToAnthropic } from "../../../src/formats/anthropic/response.ts";
import { irToAnthropicSseTransformer } from "../../../src/formats/anthropic/stream.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../../src/ir/types.ts";

/**
 * Proves the official SDK accepts what the encoders write: a tiny server on 127.0.0.1 answers
 * /v1/messages with IrToAnthropicSseStream output (or irResponseToAnthropic JSON).
 */

const REQ: IrRequest = {
  model: "smart",
  system: [],
  messages: [{ role: "user", parts: [{ type: "text", text: "Weather in Paris?" }] }],
  tools: [],
  stop: [],
  stream: true,
};

const EVENTS: IrEvent[] = [
  { type: "start", id: "msg_gw_1", model: "smart", created: 1_700_000_000 },
  { type: "reasoning_delta", text: "Use the tool." },
  { type: "reasoning_delta", text: "", signature: "EqQBsig", origin: "anthropic" },
  { type: "text_delta", text: "Checking " },
  { type: "text_delta", text: "now." },
  { type: "tool_call_start", index: 0, id: "call_1", name: "get_weather" },
  { type: "tool_call_delta", index: 0, argumentsDelta: '{"city":' },
  { type: "tool_call_delta", index: 0, argumentsDelta: '"Paris"}' },
  { type: "tool_call_end", index: 0 },
  {
    type: "finish",
    reason: "tool_calls",
    usage: { inputTokens: 40, outputTokens: 12, cachedInputTokens: 10 },
  },
];

async function withServer(
  answer: (body: Record<string, unknown>) => Response,
  fn: (client: Anthropic) => Promise<void>,
): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => resolve(port) },
    async (req) => answer(await req.json()),
  );
  const port = await promise;
  try {
    await fn(
      new Anthropic({ apiKey: "sk-test", baseURL: `http://127.0.0.1:${port}`, maxRetries: 0 }),
    );
  } finally {
    await server.shutdown();
  }
}

function sse(events: IrEvent[]): Response {
  return new Response(
    ReadableStream.from(events).pipeThrough(new TransformStream(irToAnthropicSseTransformer(REQ))),
    { headers: { "content-type": "text/event-stream; charset=utf-8" } },
  );
}

const PARAMS = {
  model: "smart",
  max_tokens: 1024,
  messages: [{ role: "user" as const, content: "Weather in Paris?" }],
};

Deno.test("the Anthropic SDK accumulates our stream into the right final message", async () => {
  await withServer(() => sse(EVENTS), async (client) => {
    const texts: string[] = [];
    const stream = client.messages.stream(PARAMS).on("text", (t) => texts.push(t));
    const msg = await stream.finalMessage();
    assert.deepEqual(texts, ["Checking ", "now."]);
    assert.equal(msg.id, "msg_gw_1");
    assert.equal(msg.stop_reason, "tool_use");
    assert.equal(msg.content.length, 3);
    const [thinking, text, tool] = msg.content;
    assert.ok(thinking.type === "thinking");
    assert.equal(thinking.thinking, "Use the tool.");
    assert.equal(thinking.signature, "EqQBsig");
    assert.ok(text.type === "text");
    assert.equal(text.text, "Checking now.");
    assert.ok(tool.type === "tool_use");
    assert.equal(tool.id, "call_1");
    assert.deepEqual(tool.input, { city: "Paris" });
    assert.equal(msg.usage.input_tokens, 30);
    assert.equal(msg.usage.cache_read_input_tokens, 10);
    assert.equal(msg.usage.output_tokens, 12);
  });
});

Deno.test("the Anthropic SDK raises our in-stream error event", async () => {
  await withServer(
    () =>
      sse([
        EVENTS[0],
        { type: "text_delta", text: "Once" },
        { type: "error", status: 529, message: "Overloaded" },
      ]),
    async (client) => {
      await assert.rejects(client.messages.stream(PARAMS).finalMessage(), (err: unknown) => {
        assert.ok(err instanceof Anthropic.APIError, String(err));
        assert.match(err.message, /Overloaded/);
        return true;
      });
    },
  );
});

Deno.test("the Anthropic SDK reads our non-streaming Message", async () => {
  const res: IrResponse = {
    id: "msg_gw_2",
    model: "smart",
    created: 0,
    content: [
      { type: "text", text: "Hi!" },
      { type: "tool_call", id: "call_9", name: "noop", arguments: "{}" },
    ],
    finishReason: "tool_calls",
    usage: { inputTokens: 9, outputTokens: 3 },
  };
  await withServer(
    () => Response.json(irResponseToAnthropic(res, { ...REQ, stream: false })),
    async (client) => {
      const msg = await client.messages.create(PARAMS);
      assert.equal(msg.stop_reason, "tool_use");
      assert.deepEqual(msg.content.map((b) => b.type), ["text", "tool_use"]);
      assert.deepEqual(msg.usage.input_tokens, 9);
    },
  );
});
