import assert from "node:assert/strict";
import {
  anthropicSseToIrTransformer,
  irToAnthropicSseTransformer,
} from "../../../src/formats/anthropic/stream.ts";
import type { IrEvent, IrRequest } from "../../../src/ir/types.ts";
import { type SseEvent, sseParserTransformer } from "../../../src/sse.ts";
import { assertGolden, fixtureText } from "./golden.ts";

const enc = new TextEncoder();

const REQ: IrRequest = {
  model: "smart",
  system: [],
  messages: [{ role: "user", parts: [{ type: "text", text: "What's the weather in Paris?" }] }],
  tools: [],
  stop: [],
  stream: true,
};

async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

/** A small deterministic PRNG, so a failing split can be reproduced from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Splits bytes at random points (1–16 bytes apart), including inside UTF-8 characters. */
function randomChunks(bytes: Uint8Array, seed: number): Uint8Array[] {
  const next = rng(seed);
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = 1 + Math.floor(next() * 16);
    out.push(bytes.slice(i, i + n));
    i += n;
  }
  return out;
}

/** Anthropic SSE text → IR events, with `created` zeroed for comparison. */
async function sseToIr(chunks: Uint8Array[]): Promise<IrEvent[]> {
  const events = await collect(
    ReadableStream.from(chunks).pipeThrough(new TransformStream(sseParserTransformer()))
      .pipeThrough(
        new TransformStream(anthropicSseToIrTransformer()),
      ),
  );
  return events.map((e) => e.type === "start" ? { ...e, created: 0 } : e);
}

/** IR events → Anthropic SSE, parsed back into named events with JSON data. */
async function irToSse(
  events: IrEvent[],
  req = REQ,
): Promise<Array<{ event?: string; data: Record<string, unknown> }>> {
  const sse: SseEvent[] = await collect(
    ReadableStream.from(events).pipeThrough(new TransformStream(irToAnthropicSseTransformer(req)))
      .pipeThrough(
        new TransformStream(sseParserTransformer()),
      ),
  );
  return sse.map((e) => ({ event: e.event, data: JSON.parse(e.data) }));
}

for (const name of ["stream_tool_use", "stream_thinking", "stream_error"]) {
  Deno.test(`golden: ${name}.sse split at random bytes → IR events`, async () => {
    const bytes = enc.encode(await fixtureText(`${name}.sse`));
    const whole = await sseToIr([bytes]);
    await assertGolden(`${name}.ir.json`, whole);
    for (let seed = 1; seed <= 25; seed++) {
      assert.deepEqual(await sseToIr(randomChunks(bytes, seed)), whole, `seed ${seed}`);
    }
    // CRLF framing parses the same.
    const crlf = enc.encode((await fixtureText(`${name}.sse`)).replaceAll("\n", "\r\n"));
    assert.deepEqual(await sseToIr(randomChunks(crlf, 99)), whole);
  });
}

Deno.test("AnthropicSseToIrStream: tool indices count tool blocks only, usage comes once", async () => {
  const events = await sseToIr([enc.encode(await fixtureText("stream_tool_use.sse"))]);
  const starts = events.filter((e) => e.type === "tool_call_start");
  assert.deepEqual(starts.map((e) => e.type === "tool_call_start" && e.index), [0, 1]);
  const args = events.flatMap((e) =>
    e.type === "tool_call_delta" && e.index === 0 ? [e.argumentsDelta] : []
  );
  assert.deepEqual(JSON.parse(args.join("")), {
    location: "San Francisco, CA",
    unit: "fahrenheit",
  });
  // A tool called without any input still yields complete JSON.
  assert.ok(
    events.some((e) => e.type === "tool_call_delta" && e.index === 1 && e.argumentsDelta === "{}"),
  );
  const finishes = events.filter((e) => e.type === "finish");
  assert.deepEqual(finishes, [{
    type: "finish",
    reason: "tool_calls",
    usage: { inputTokens: 472, outputTokens: 89, cachedInputTokens: 0 },
  }]);
  assert.equal(events.at(-1)?.type, "finish");
});

Deno.test("AnthropicSseToIrStream: each IR event leaves as soon as its input arrives", async () => {
  const transform = new TransformStream<Uint8Array, Uint8Array>();
  const out = transform.readable.pipeThrough(new TransformStream(sseParserTransformer()))
    .pipeThrough(
      new TransformStream(anthropicSseToIrTransformer()),
    );
  const writer = transform.writable.getWriter();
  const reader = out.getReader();
  const frame = (event: string, data: unknown): Uint8Array =>
    enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

  void writer.write(frame("message_start", {
    type: "message_start",
    message: { id: "msg_1", model: "claude", usage: { input_tokens: 5, output_tokens: 1 } },
  }));
  assert.equal((await reader.read()).value?.type, "start");
  void writer.write(frame("content_block_start", {
    type: "content_block_start",
    index: 0,
    content_block: { type: "text", text: "" },
  }));
  void writer.write(frame("content_block_delta", {
    type: "content_block_delta",
    index: 0,
    delta: { type: "text_delta", text: "Hel" },
  }));
  assert.deepEqual((await reader.read()).value, { type: "text_delta", text: "Hel" });
  void writer.write(frame("content_block_delta", {
    type: "content_block_delta",
    index: 0,
    delta: { type: "text_delta", text: "lo" },
  }));
  assert.deepEqual((await reader.read()).value, { type: "text_delta", text: "lo" });
  await reader.cancel();
});

Deno.test("AnthropicSseToIrStream: a stream cut short or malformed ends with an IR error", async () => {
  const text = await fixtureText("stream_tool_use.sse");
  const cut = text.slice(0, text.indexOf("event: content_block_stop"));
  const events = await sseToIr([enc.encode(cut)]);
  assert.deepEqual(events.at(-1), {
    type: "error",
    status: 502,
    message: "The upstream stream ended before the answer was complete.",
  });
  assert.equal(events.filter((e) => e.type === "finish").length, 0);

  const bad = await sseToIr([enc.encode("event: message_start\ndata: {not json\n\n")]);
  assert.equal(bad.length, 1);
  assert.equal(bad[0].type, "error");

  // Unknown events and pings are ignored; a missing message_stop after message_delta still finishes.
  const lenient = await sseToIr([enc.encode(
    'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"c"}}\n\n' +
      'event: future_event\ndata: {"type":"future_event","x":1}\n\n' +
      "event: ping\ndata: {}\n\n" +
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":3}}\n\n',
  )]);
  assert.deepEqual(lenient.slice(1), [{
    type: "finish",
    reason: "length",
    usage: { inputTokens: 0, outputTokens: 3 },
  }]);
});

const IR_EVENTS: IrEvent[] = [
  { type: "start", id: "msg_gw_1", model: "smart", created: 1_700_000_000 },
  { type: "reasoning_delta", text: "Paris weather? " },
  { type: "reasoning_delta", text: "Call the tool." },
  { type: "reasoning_delta", text: "", signature: "EqQBsig", origin: "anthropic" },
  { type: "text_delta", text: "Let me " },
  { type: "text_delta", text: "check." },
  { type: "tool_call_start", index: 0, id: "call_1", name: "get_weather" },
  { type: "tool_call_delta", index: 0, argumentsDelta: '{"city":' },
  { type: "tool_call_delta", index: 0, argumentsDelta: '"Paris"}' },
  { type: "tool_call_start", index: 1, id: "call_2", name: "get_time" },
  { type: "tool_call_delta", index: 1, argumentsDelta: "{}" },
  { type: "tool_call_end", index: 0 },
  { type: "tool_call_end", index: 1 },
  {
    type: "finish",
    reason: "tool_calls",
    usage: { inputTokens: 50, outputTokens: 20, cachedInputTokens: 30 },
  },
];

Deno.test("IrToAnthropicSseStream frames events in Anthropic's order and shape", async () => {
  const out = await irToSse(IR_EVENTS);
  assert.deepEqual(out.map((e) => e.event), [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_delta",
    "content_block_delta",
    "content_block_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_delta",
    "content_block_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_delta",
    "content_block_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
  ]);
  for (const e of out) assert.equal(e.data.type, e.event);
  const start = out[0].data.message as Record<string, unknown>;
  assert.equal(start.id, "msg_gw_1");
  assert.equal(start.model, "smart");
  assert.deepEqual(start.content, []);
  assert.equal(start.stop_reason, null);
  assert.ok((start.usage as { input_tokens: number }).input_tokens > 0);

  const blockStarts = out.filter((e) => e.event === "content_block_start").map((e) => e.data);
  assert.deepEqual(blockStarts, [
    {
      type: "content_block_start",
      index: 0,
      content_block: { type: "thinking", thinking: "", signature: "" },
    },
    { type: "content_block_start", index: 1, content_block: { type: "text", text: "" } },
    {
      type: "content_block_start",
      index: 2,
      content_block: { type: "tool_use", id: "call_1", name: "get_weather", input: {} },
    },
    {
      type: "content_block_start",
      index: 3,
      content_block: { type: "tool_use", id: "call_2", name: "get_time", input: {} },
    },
  ]);
  assert.deepEqual(out[4].data.delta, { type: "signature_delta", signature: "EqQBsig" });
  assert.deepEqual(out[12].data, {
    type: "content_block_delta",
    index: 2,
    delta: { type: "input_json_delta", partial_json: '"Paris"}' },
  });
  assert.deepEqual(out.at(-2)?.data, {
    type: "message_delta",
    delta: { stop_reason: "tool_use", stop_sequence: null },
    usage: { input_tokens: 20, output_tokens: 20, cache_read_input_tokens: 30 },
  });
});

Deno.test("IR → Anthropic SSE → IR round-trips", async () => {
  const bytes = await collect(
    ReadableStream.from(IR_EVENTS).pipeThrough(
      new TransformStream(irToAnthropicSseTransformer(REQ)),
    ),
  );
  const back = await sseToIr(bytes);
  const expected = IR_EVENTS.filter((e) => e.type !== "tool_call_end").map((e) =>
    e.type === "start" ? { ...e, created: 0 } : e
  );
  assert.deepEqual(back.filter((e) => e.type !== "tool_call_end"), expected);
  assert.equal(back.filter((e) => e.type === "tool_call_end").length, 2);
});

Deno.test("IrToAnthropicSseStream: an IR error becomes event: error and ends the stream", async () => {
  const out = await irToSse([
    { type: "start", id: "m", model: "smart", created: 0 },
    { type: "text_delta", text: "Once" },
    { type: "error", status: 529, message: "Overloaded" },
    { type: "text_delta", text: "ignored" },
    { type: "finish", reason: "stop" },
  ]);
  assert.deepEqual(out.map((e) => e.event), [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "error",
  ]);
  assert.deepEqual(out.at(-1)?.data, {
    type: "error",
    error: { type: "overloaded_error", message: "Overloaded" },
  });
});

Deno.test("IrToAnthropicSseStream: no finish means an error event, not a silent end", async () => {
  const out = await irToSse([{ type: "text_delta", text: "partial" }]);
  assert.deepEqual(out.map((e) => e.event), [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "error",
  ]);
  assert.equal((out.at(-1)?.data.error as { type: string }).type, "api_error");
});

Deno.test("IrToAnthropicSseStream: foreign signatures are tagged, redacted blocks are whole", async () => {
  const out = await irToSse([
    { type: "start", id: "m", model: "smart", created: 0 },
    { type: "reasoning_delta", text: "gemini thought", signature: "CiQB", origin: "gemini" },
    { type: "reasoning_delta", text: "", redacted: "gAAAA", origin: "openai" },
    { type: "text_delta", text: "" },
    { type: "text_delta", text: "ok" },
    { type: "finish", reason: "stop" },
  ]);
  const deltas = out.filter((e) => e.event === "content_block_delta").map((e) => e.data.delta);
  assert.deepEqual(deltas, [
    { type: "thinking_delta", thinking: "gemini thought" },
    { type: "signature_delta", signature: "llmproxy.gemini.CiQB" },
    { type: "text_delta", text: "ok" },
  ]);
  const starts = out.filter((e) => e.event === "content_block_start").map((e) =>
    e.data.content_block
  );
  assert.deepEqual(starts[1], { type: "redacted_thinking", data: "llmproxy.openai.gAAAA" });
  // Without usage from the upstream, message_delta still reports an estimate.
  const usage = out.find((e) => e.event === "message_delta")?.data.usage as Record<string, number>;
  assert.ok(usage.input_tokens > 0 && usage.output_tokens > 0);
});
