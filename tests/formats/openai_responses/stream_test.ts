import assert from "node:assert/strict";
import { fuse } from "../../../src/http/fused_stream.ts";
import { openAIResponsesFormat } from "../../../src/formats/openai_responses/format.ts";
import { decodeEnvelope } from "../../../src/formats/openai_responses/reasoning_envelope.ts";
import { decodeCallId } from "../../../src/formats/signature_carrier.ts";
import { irToResponsesSseTransformer } from "../../../src/formats/openai_responses/stream.ts";
import type { IrEvent, IrRequest } from "../../../src/ir/types.ts";
import { sseParserTransformer } from "../../../src/sse.ts";

type Json = Record<string, unknown>;

const REQ: IrRequest = {
  model: "client-model",
  system: [],
  messages: [],
  tools: [],
  stop: [],
  stream: true,
};
const START: IrEvent = { type: "start", id: "chatcmpl-1", model: "up", created: 1700000000 };

/** Runs IR events through the encoder and parses the SSE back, checking the framing. */
async function encode(events: IrEvent[], req: IrRequest = REQ): Promise<Json[]> {
  const sse = ReadableStream.from(events)
    .pipeThrough(new TransformStream(irToResponsesSseTransformer(req)))
    .pipeThrough(new TransformStream(sseParserTransformer()));
  const out: Json[] = [];
  for await (const e of sse) {
    const data = JSON.parse(e.data) as Json;
    assert.equal(e.event, data.type, "the SSE event name is the payload type");
    assert.equal(data.sequence_number, out.length, "sequence numbers count up from 0");
    out.push(data);
  }
  return out;
}

const types = (events: Json[]): unknown[] => events.map((e) => e.type);
const last = (events: Json[]): Json => events.at(-1)!;
const responseOf = (e: Json): Json => e.response as Json;

Deno.test("text stream: exact event payloads, and the final response repeats the items", async () => {
  const events = await encode([
    START,
    { type: "text_delta", text: "Hi" },
    { type: "text_delta", text: "!" },
    { type: "finish", reason: "stop", usage: { inputTokens: 5, outputTokens: 2 } },
  ]);
  const created = responseOf(events[0]);
  assert.match(String(created.id), /^resp_/);
  assert.equal(created.status, "in_progress");
  assert.equal(created.created_at, 1700000000);
  assert.equal(created.model, "up");
  assert.deepEqual(created.output, []);
  assert.equal(created.usage, null);
  assert.equal(events[1].type, "response.in_progress");

  const item = events[2].item as Json;
  const itemId = String(item.id);
  assert.match(itemId, /^msg_/);
  const ref = { item_id: itemId, output_index: 0, content_index: 0 };
  const text = (t: string) => ({ type: "output_text", text: t, annotations: [], logprobs: [] });
  const done = {
    id: itemId,
    type: "message",
    status: "completed",
    role: "assistant",
    content: [text("Hi!")],
  };
  assert.deepEqual(events.slice(2, -1), [
    {
      type: "response.output_item.added",
      output_index: 0,
      item: { id: itemId, type: "message", status: "in_progress", role: "assistant", content: [] },
      sequence_number: 2,
    },
    { type: "response.content_part.added", ...ref, part: text(""), sequence_number: 3 },
    { type: "response.output_text.delta", ...ref, delta: "Hi", logprobs: [], sequence_number: 4 },
    { type: "response.output_text.delta", ...ref, delta: "!", logprobs: [], sequence_number: 5 },
    { type: "response.output_text.done", ...ref, text: "Hi!", logprobs: [], sequence_number: 6 },
    { type: "response.content_part.done", ...ref, part: text("Hi!"), sequence_number: 7 },
    { type: "response.output_item.done", output_index: 0, item: done, sequence_number: 8 },
  ]);
  const final = responseOf(last(events));
  assert.equal(last(events).type, "response.completed");
  assert.equal(final.id, created.id);
  assert.equal(final.status, "completed");
  assert.deepEqual(final.output, [done]);
  assert.deepEqual(final.usage, {
    input_tokens: 5,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 2,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 7,
  });
});

Deno.test("each event leaves as soon as its IR event arrives", async () => {
  const stream = new TransformStream(irToResponsesSseTransformer(REQ));
  const writer = stream.writable.getWriter();
  const reader = stream.readable.pipeThrough(new TransformStream(sseParserTransformer()))
    .getReader();
  const next = async () => JSON.parse((await reader.read()).value!.data) as Json;
  void writer.write(START);
  assert.equal((await next()).type, "response.created");
  assert.equal((await next()).type, "response.in_progress");
  void writer.write({ type: "text_delta", text: "a" });
  assert.equal((await next()).type, "response.output_item.added");
  assert.equal((await next()).type, "response.content_part.added");
  assert.equal((await next()).delta, "a");
  void writer.write({ type: "tool_call_start", index: 0, id: "c", name: "f" });
  for (const t of ["output_text.done", "content_part.done", "output_item.done"]) {
    assert.equal((await next()).type, `response.${t}`);
  }
  assert.equal((await next()).type, "response.output_item.added");
  void writer.write({ type: "tool_call_delta", index: 0, argumentsDelta: "{}" });
  assert.equal((await next()).delta, "{}");
  await writer.close();
  await reader.cancel();
});

Deno.test("tool calls: added with empty arguments, deltas, done; empty arguments become {}", async () => {
  const events = await encode([
    START,
    { type: "text_delta", text: "Let me check." },
    { type: "tool_call_start", index: 0, id: "call_1", name: "get_weather" },
    { type: "tool_call_delta", index: 0, argumentsDelta: '{"city":' },
    { type: "tool_call_start", index: 1, id: "call_2", name: "now" },
    { type: "tool_call_delta", index: 0, argumentsDelta: '"Paris"}' },
    { type: "tool_call_end", index: 0 },
    { type: "finish", reason: "tool_calls" },
  ]);
  const names = types(events).slice(2);
  assert.deepEqual(names, [
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    // call 2 never got an end: closed at finish, with `{}` arguments.
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "response.completed",
  ]);
  const added = events[8].item as Json;
  assert.deepEqual({ ...added, id: "x" }, {
    id: "x",
    type: "function_call",
    status: "in_progress",
    arguments: "",
    call_id: "call_1",
    name: "get_weather",
  });
  assert.equal(events[10].output_index, 2, "call 2 is the third output item");
  const final = responseOf(last(events)).output as Json[];
  assert.deepEqual(
    final.map((o) => [o.type, o.call_id ?? null, o.arguments ?? null, o.status]),
    [
      ["message", null, null, "completed"],
      ["function_call", "call_1", '{"city":"Paris"}', "completed"],
      ["function_call", "call_2", "{}", "completed"],
    ],
  );
  assert.equal(responseOf(last(events)).usage, null);
});

Deno.test("reasoning streams as a summary when asked, with the signature in encrypted_content", async () => {
  const events = await encode([
    START,
    { type: "reasoning_delta", text: "Step 1" },
    { type: "reasoning_delta", text: ", step 2", signature: "sig-A", origin: "anthropic" },
    { type: "reasoning_delta", text: "Second block" },
    { type: "reasoning_delta", text: "", signature: "sig-B", origin: "anthropic" },
    { type: "text_delta", text: "Done." },
    { type: "finish", reason: "stop" },
  ], { ...REQ, reasoning: { includeThoughts: true } });
  assert.deepEqual(types(events).slice(2, 9), [
    "response.output_item.added",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done",
    "response.reasoning_summary_part.done",
    "response.output_item.done",
  ]);
  assert.deepEqual((events[2].item as Json).summary, []);
  assert.equal(events[3].summary_index, 0);
  assert.deepEqual(events[3].part, { type: "summary_text", text: "" });
  assert.equal(events[6].text, "Step 1, step 2");
  const output = responseOf(last(events)).output as Json[];
  assert.deepEqual(output.map((o) => o.type), ["reasoning", "reasoning", "message"]);
  assert.deepEqual(output[0].summary, [{ type: "summary_text", text: "Step 1, step 2" }]);
  assert.deepEqual(decodeEnvelope(String(output[0].encrypted_content)), {
    origin: "anthropic",
    signature: "sig-A",
  });
  assert.deepEqual(decodeEnvelope(String(output[1].encrypted_content)), {
    origin: "anthropic",
    signature: "sig-B",
  });
});

Deno.test("reasoning streams as reasoning_text content when no summary was asked for", async () => {
  const events = await encode([
    START,
    { type: "reasoning_delta", text: "raw" },
    { type: "text_delta", text: "x" },
    { type: "finish", reason: "stop" },
  ]);
  assert.deepEqual(types(events).slice(3, 7), [
    "response.content_part.added",
    "response.reasoning_text.delta",
    "response.reasoning_text.done",
    "response.content_part.done",
  ]);
  assert.deepEqual(events[3].part, { type: "reasoning_text", text: "" });
  assert.deepEqual((events[7].item as Json).content, [{ type: "reasoning_text", text: "raw" }]);
});

Deno.test("a signed tool call carries its signature in its call_id, which comes back decoded", async () => {
  const events = await encode([
    START,
    {
      type: "tool_call_start",
      index: 0,
      id: "call_g",
      name: "f",
      signature: "ts",
      origin: "gemini",
    },
    { type: "tool_call_delta", index: 0, argumentsDelta: "{}" },
    { type: "finish", reason: "tool_calls" },
  ]);
  const output = responseOf(last(events)).output as Json[];
  assert.deepEqual(output.map((o) => o.type), ["function_call"]);
  assert.deepEqual(decodeCallId(String(output[0].call_id)), {
    id: "call_g",
    carried: { signature: "ts", origin: "gemini" },
  });
  // The client sends it back: the signature returns to the call, the id is bare again.
  const ir = openAIResponsesFormat.toIr({ model: "m", input: output }, {});
  assert.deepEqual(ir.messages, [{
    role: "assistant",
    parts: [{
      type: "tool_call",
      id: "call_g",
      name: "f",
      arguments: "{}",
      signature: "ts",
      origin: "gemini",
    }],
  }]);
});

Deno.test("length stop → response.incomplete with max_output_tokens and incomplete items", async () => {
  const events = await encode([
    START,
    { type: "text_delta", text: "Once upon" },
    { type: "finish", reason: "length", usage: { inputTokens: 1, outputTokens: 2 } },
  ]);
  const end = last(events);
  assert.equal(end.type, "response.incomplete");
  const res = responseOf(end);
  assert.equal(res.status, "incomplete");
  assert.deepEqual(res.incomplete_details, { reason: "max_output_tokens" });
  assert.equal((events.at(-2)!.item as Json).status, "incomplete");

  const filtered = await encode([START, { type: "finish", reason: "content_filter" }]);
  assert.deepEqual(responseOf(last(filtered)).incomplete_details, { reason: "content_filter" });
});

Deno.test("an IR error → error event then response.failed; later events are ignored", async () => {
  const events = await encode([
    START,
    { type: "text_delta", text: "part" },
    { type: "error", status: 429, message: "Slow down." },
    { type: "text_delta", text: "ignored" },
    { type: "finish", reason: "stop" },
  ]);
  assert.deepEqual(types(events).slice(-2), ["error", "response.failed"]);
  const error = events.at(-2)!;
  assert.deepEqual(error, {
    type: "error",
    code: "rate_limit_exceeded",
    message: "Slow down.",
    param: null,
    sequence_number: error.sequence_number,
  });
  const failed = responseOf(last(events));
  assert.equal(failed.status, "failed");
  assert.deepEqual(failed.error, { code: "rate_limit_exceeded", message: "Slow down." });
  assert.deepEqual((failed.output as Json[]).map((o) => [o.type, o.status]), [
    ["message", "incomplete"],
  ]);
});

Deno.test("an error before anything else still opens the response; a silent end is an error", async () => {
  const early = await encode([{ type: "error", status: 500, message: "boom" }]);
  assert.deepEqual(types(early), [
    "response.created",
    "response.in_progress",
    "error",
    "response.failed",
  ]);
  assert.equal(early[2].code, "server_error");

  const cut = await encode([START, { type: "text_delta", text: "a" }]);
  assert.deepEqual(types(cut).slice(-2), ["error", "response.failed"]);
  assert.match(String(cut.at(-2)!.message), /ended before the response was complete/);
});

Deno.test("the format's encodeStream: this encoder, fused, with the SSE content type", async () => {
  const encoded = openAIResponsesFormat.encodeStream(REQ, {});
  assert.equal(encoded.contentType, "text/event-stream; charset=utf-8");
  const events: IrEvent[] = [START, { type: "text_delta", text: "hi" }, {
    type: "finish",
    reason: "stop",
  }];
  const fused = await new Response(fuse(ReadableStream.from(events), [encoded.transformer]))
    .text();
  const piped = await new Response(
    ReadableStream.from(events).pipeThrough(new TransformStream(irToResponsesSseTransformer(REQ))),
  ).text();
  // Ids and timestamps are generated per stream: compare the event sequence.
  const kinds = (sse: string) => [...sse.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
  assert.ok(kinds(fused).length >= 5);
  assert.deepEqual(kinds(fused), kinds(piped));
});
