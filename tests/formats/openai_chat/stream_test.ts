import assert from "node:assert/strict";
import { irToChatSseTransformer } from "../../../src/formats/openai_chat/stream.ts";
import type { IrEvent } from "../../../src/ir/types.ts";
import { type SseEvent, sseParserTransformer } from "../../../src/sse.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

async function run(events: IrEvent[], includeUsage: boolean): Promise<SseEvent[]> {
  const parsed = ReadableStream.from(events)
    .pipeThrough(new TransformStream(irToChatSseTransformer({ includeUsage })))
    .pipeThrough(new TransformStream(sseParserTransformer()));
  const out: SseEvent[] = [];
  for await (const e of parsed) out.push(e);
  return out;
}

function payloads(events: SseEvent[]): Json[] {
  return events.filter((e) => e.data !== "[DONE]").map((e) => JSON.parse(e.data));
}

const START: IrEvent = { type: "start", id: "chatcmpl-abc", model: "gpt-4o", created: 1700000000 };
const USAGE = { inputTokens: 10, outputTokens: 5, cachedInputTokens: 2, reasoningTokens: 1 };

Deno.test("text stream: role chunk first, text deltas, finish, then [DONE] last", async () => {
  const events = await run([
    START,
    { type: "text_delta", text: "Hel" },
    { type: "text_delta", text: "lo é" },
    { type: "finish", reason: "stop", usage: USAGE },
  ], false);
  assert.equal(events.at(-1)?.data, "[DONE]");
  assert.ok(events.every((e) => e.event === undefined), "OpenAI chunks are unnamed events");
  const chunks = payloads(events);
  assert.equal(chunks.length, 4, "no usage chunk without include_usage");
  for (const c of chunks) {
    assert.equal(c.id, "chatcmpl-abc");
    assert.equal(c.object, "chat.completion.chunk");
    assert.equal(c.created, 1700000000);
    assert.equal(c.model, "gpt-4o");
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].index, 0);
    assert.ok(!("usage" in c));
  }
  assert.deepEqual(chunks.map((c) => c.choices[0].delta), [
    { role: "assistant", content: "" },
    { content: "Hel" },
    { content: "lo é" },
    {},
  ]);
  assert.deepEqual(chunks.map((c) => c.choices[0].finish_reason), [null, null, null, "stop"]);
});

Deno.test("usage chunk is sent after the finish chunk only when includeUsage", async () => {
  const events = await run([START, { type: "text_delta", text: "x" }, {
    type: "finish",
    reason: "stop",
    usage: USAGE,
  }], true);
  assert.equal(events.at(-1)?.data, "[DONE]");
  const chunks = payloads(events);
  assert.equal(chunks.length, 4);
  const usageChunk = chunks[3];
  assert.deepEqual(usageChunk.choices, []);
  assert.deepEqual(usageChunk.usage, {
    prompt_tokens: 10,
    completion_tokens: 5,
    total_tokens: 15,
    prompt_tokens_details: { cached_tokens: 2 },
    completion_tokens_details: { reasoning_tokens: 1 },
  });
  assert.equal(chunks[2].choices[0].finish_reason, "stop");

  // Asked for, but the upstream reported none: no usage chunk.
  const noUsage = payloads(await run([START, { type: "finish", reason: "stop" }], true));
  assert.ok(noUsage.every((c) => !("usage" in c)));
});

Deno.test("tool calls: start chunk with id/name, then argument fragments", async () => {
  const events = await run([
    START,
    { type: "tool_call_start", index: 0, id: "call_a", name: "get_weather" },
    { type: "tool_call_delta", index: 0, argumentsDelta: '{"city":' },
    { type: "tool_call_delta", index: 0, argumentsDelta: '"Paris"}' },
    { type: "tool_call_end", index: 0 },
    { type: "tool_call_start", index: 1, id: "call_b", name: "get_time" },
    { type: "tool_call_delta", index: 1, argumentsDelta: "{}" },
    { type: "tool_call_end", index: 1 },
    { type: "finish", reason: "tool_calls" },
  ], false);
  const deltas = payloads(events).map((c) => c.choices[0].delta);
  assert.deepEqual(deltas, [
    { role: "assistant", content: "" },
    {
      tool_calls: [{
        index: 0,
        id: "call_a",
        type: "function",
        function: { name: "get_weather", arguments: "" },
      }],
    },
    { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
    { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
    {
      tool_calls: [{
        index: 1,
        id: "call_b",
        type: "function",
        function: { name: "get_time", arguments: "" },
      }],
    },
    { tool_calls: [{ index: 1, function: { arguments: "{}" } }] },
    {},
  ]);
  assert.equal(payloads(events).at(-1).choices[0].finish_reason, "tool_calls");
  assert.equal(events.at(-1)?.data, "[DONE]");
});

Deno.test("reasoning deltas become reasoning_content; empty ones are skipped", async () => {
  const deltas = payloads(
    await run([
      START,
      { type: "reasoning_delta", text: "thinking" },
      { type: "reasoning_delta", text: "", signature: "sig" },
      { type: "text_delta", text: "answer" },
      { type: "finish", reason: "stop" },
    ], false),
  ).map((c) => c.choices[0].delta);
  assert.deepEqual(deltas, [
    { role: "assistant", content: "" },
    { reasoning_content: "thinking" },
    { content: "answer" },
    {},
  ]);
});

Deno.test("finish reasons map to OpenAI finish_reason values", async () => {
  const cases: Array<[IrEvent & { type: "finish" }, string]> = [
    [{ type: "finish", reason: "stop" }, "stop"],
    [{ type: "finish", reason: "length" }, "length"],
    [{ type: "finish", reason: "tool_calls" }, "tool_calls"],
    [{ type: "finish", reason: "content_filter" }, "content_filter"],
    [{ type: "finish", reason: "other" }, "stop"],
    [{ type: "finish", reason: "error" }, "stop"],
  ];
  for (const [event, expected] of cases) {
    const chunks = payloads(await run([START, event], false));
    assert.equal(chunks.at(-1).choices[0].finish_reason, expected, event.reason);
  }
});

Deno.test("a stream without a start event still opens with the role chunk", async () => {
  const events = await run([{ type: "text_delta", text: "hi" }, {
    type: "finish",
    reason: "stop",
  }], false);
  const chunks = payloads(events);
  assert.deepEqual(chunks[0].choices[0].delta, { role: "assistant", content: "" });
  assert.deepEqual(chunks[1].choices[0].delta, { content: "hi" });
  assert.equal(chunks[0].id, chunks[1].id);
  assert.equal(events.at(-1)?.data, "[DONE]");
  assert.equal(events.filter((e) => e.data === "[DONE]").length, 1);
});

Deno.test("error event becomes an {error} chunk and no [DONE]; later events are ignored", async () => {
  const events = await run([
    START,
    { type: "text_delta", text: "partial" },
    { type: "error", status: 502, message: "upstream connection reset" },
    { type: "text_delta", text: "ignored" },
    { type: "finish", reason: "stop" },
  ], true);
  assert.ok(events.every((e) => e.data !== "[DONE]"), "no [DONE] after an error");
  const chunks = payloads(events);
  assert.equal(chunks.length, 3);
  assert.deepEqual(chunks[1].choices[0].delta, { content: "partial" });
  assert.deepEqual(chunks[2], {
    error: { message: "upstream connection reset", type: "api_error", code: 502 },
  });
});

Deno.test("nothing is emitted after [DONE]", async () => {
  const events = await run([
    START,
    { type: "finish", reason: "stop" },
    { type: "text_delta", text: "late" },
    { type: "finish", reason: "length" },
  ], false);
  assert.equal(events.at(-1)?.data, "[DONE]");
  assert.equal(events.length, 3);
});
