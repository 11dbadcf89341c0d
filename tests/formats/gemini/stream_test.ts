import assert from "node:assert/strict";
import type { CallIdSource } from "../../../src/formats/gemini/parts.ts";
import {
  geminiSseToIrTransformer,
  irToGeminiTransformer,
} from "../../../src/formats/gemini/stream.ts";
import { decodeCarried } from "../../../src/formats/signature_carrier.ts";
import type { IrEvent } from "../../../src/ir/types.ts";
import { type SseEvent, sseParserTransformer } from "../../../src/sse.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const FIXTURES = new URL("../../fixtures/gemini/", import.meta.url);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function transcript(name: string): Uint8Array {
  return Deno.readFileSync(new URL(name, FIXTURES));
}

/** A small seeded PRNG so a failing split can be reproduced. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The bytes cut at random places (1–17 bytes), including inside UTF-8 characters. */
function randomChunks(bytes: Uint8Array, seed: number): ReadableStream<Uint8Array> {
  const next = rng(seed);
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = 1 + Math.floor(next() * 17);
    pieces.push(bytes.slice(i, i + n));
    i += n;
  }
  return ReadableStream.from(pieces);
}

function counterIds(): CallIdSource {
  let n = 0;
  return { next: (_name, explicit) => explicit ?? `call_test_${n++}` };
}

async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x);
  return out;
}

async function decode(bytes: ReadableStream<Uint8Array>, model = "fallback"): Promise<IrEvent[]> {
  const events = await collect(
    bytes.pipeThrough(new TransformStream(sseParserTransformer())).pipeThrough(
      new TransformStream(geminiSseToIrTransformer({ model, ids: counterIds() })),
    ),
  );
  return events.map((e) => e.type === "start" ? { ...e, created: 0 } : e);
}

async function encode(events: IrEvent[], sse: boolean): Promise<string> {
  const chunks = await collect(
    ReadableStream.from(events).pipeThrough(new TransformStream(irToGeminiTransformer({ sse }))),
  );
  return chunks.map((c) => decoder.decode(c)).join("");
}

async function sseBodies(text: string): Promise<Json[]> {
  const events: SseEvent[] = await collect(
    ReadableStream.from([encoder.encode(text)]).pipeThrough(
      new TransformStream(sseParserTransformer()),
    ),
  );
  return events.map((e) => JSON.parse(e.data));
}

const EXPECTED: Record<string, IrEvent[]> = {
  "stream_text.sse": [
    { type: "start", id: "7Yh1aJ2xMZ2nz7IP", model: "gemini-2.5-flash", created: 0 },
    { type: "text_delta", text: "Voilà, the" },
    { type: "text_delta", text: " café opens at 8 🙂" },
    { type: "text_delta", text: " every day." },
    { type: "finish", reason: "stop", usage: { inputTokens: 11, outputTokens: 14 } },
  ],
  "stream_function_call.sse": [
    { type: "start", id: "fc-stream-01", model: "gemini-2.5-flash", created: 0 },
    { type: "text_delta", text: "I'll check both cities." },
    {
      type: "tool_call_start",
      index: 0,
      id: "call_test_0",
      name: "get_weather",
      signature: "CiwBjz1rX2Zj",
      origin: "gemini",
    },
    { type: "tool_call_delta", index: 0, argumentsDelta: '{"location":"Paris","unit":"celsius"}' },
    { type: "tool_call_end", index: 0 },
    { type: "tool_call_start", index: 1, id: "call_test_1", name: "get_weather" },
    { type: "tool_call_delta", index: 1, argumentsDelta: '{"location":"London","unit":"celsius"}' },
    { type: "tool_call_end", index: 1 },
    {
      type: "finish",
      reason: "tool_calls",
      usage: { inputTokens: 58, outputTokens: 92, reasoningTokens: 56 },
    },
  ],
  "stream_thinking.sse": [
    { type: "start", id: "think-stream-01", model: "gemini-3-pro-preview", created: 0 },
    {
      type: "reasoning_delta",
      text: "**Analyzing the request**\n\nThe user asks for a haiku.",
      origin: "gemini",
    },
    { type: "reasoning_delta", text: " I will count syllables.", origin: "gemini" },
    { type: "text_delta", text: "Autumn moonlight—\na worm digs silently" },
    { type: "text_delta", text: "\ninto the chestnut." },
    { type: "reasoning_delta", text: "", signature: "EpYBCpMBAdHtim9r", origin: "gemini" },
    {
      type: "finish",
      reason: "stop",
      usage: { inputTokens: 9, outputTokens: 141, reasoningTokens: 124 },
    },
  ],
};

for (const [name, expected] of Object.entries(EXPECTED)) {
  Deno.test(`golden SSE transcript → IR events: ${name} (whole and split at random)`, async () => {
    const bytes = transcript(name);
    assert.deepEqual(await decode(ReadableStream.from([bytes])), expected);
    for (let seed = 1; seed <= 25; seed++) {
      assert.deepEqual(await decode(randomChunks(bytes, seed)), expected, `seed ${seed}`);
    }
  });

  Deno.test(`golden SSE transcript → IR → Gemini SSE gives back the same parts: ${name}`, async () => {
    const original = await sseBodies(decoder.decode(transcript(name)));
    const text = await encode(await decode(ReadableStream.from([transcript(name)])), true);
    const again = await sseBodies(text);
    const parts = (chunks: Json[]) =>
      chunks.flatMap((c) => c.candidates[0].content.parts).filter((p: Json) =>
        !(p.text === "" && p.thoughtSignature === undefined)
      );
    assert.deepEqual(parts(again), parts(original));
    const last = again.at(-1);
    assert.equal(last.candidates[0].finishReason, "STOP");
    // The counts Gemini reports come back; the per-modality details are not carried.
    const { promptTokensDetails: _details, ...usage } = original.at(-1).usageMetadata;
    assert.deepEqual(last.usageMetadata, usage);
    assert.equal(last.responseId, original[0].responseId);
    assert.equal(last.modelVersion, original[0].modelVersion);
  });
}

function sse(...bodies: unknown[]): ReadableStream<Uint8Array> {
  return ReadableStream.from(
    bodies.map((b) => encoder.encode(`data: ${JSON.stringify(b)}\r\n\r\n`)),
  );
}

const TEXT = (text: string, finishReason?: string) => ({
  candidates: [{
    content: { role: "model", parts: [{ text }] },
    ...(finishReason ? { finishReason } : {}),
  }],
  modelVersion: "gemini-x",
});

Deno.test("decode: a stream cut without finishReason ends with an error event, not a finish", async () => {
  const events = await decode(sse(TEXT("partial")));
  assert.deepEqual(events.slice(1), [
    { type: "text_delta", text: "partial" },
    {
      type: "error",
      status: 502,
      message: "The Gemini upstream stream ended before the answer was complete.",
    },
  ]);
  const empty = await decode(ReadableStream.from([]));
  assert.equal(empty.length, 1);
  assert.equal(empty[0].type, "error");
});

Deno.test("decode: an error element mid-stream becomes an IR error event and nothing after it", async () => {
  const events = await decode(sse(
    TEXT("one"),
    { error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } },
    TEXT("never", "STOP"),
  ));
  assert.deepEqual(events.slice(1), [
    { type: "text_delta", text: "one" },
    {
      type: "error",
      status: 502,
      message: "Gemini upstream error UNAVAILABLE: The model is overloaded.",
    },
  ]);
  const quota = await decode(
    sse({ error: { code: 429, message: "quota", status: "RESOURCE_EXHAUSTED" } }),
  );
  assert.deepEqual(quota, [{
    type: "error",
    status: 429,
    message: "Gemini upstream error RESOURCE_EXHAUSTED: quota",
  }]);
});

Deno.test("decode: a blocked prompt finishes with content_filter; usage reported once, last counts", async () => {
  const blocked = await decode(
    sse({
      promptFeedback: { blockReason: "PROHIBITED_CONTENT" },
      usageMetadata: { promptTokenCount: 4 },
    }),
  );
  assert.deepEqual(blocked.slice(1), [
    { type: "finish", reason: "content_filter", usage: { inputTokens: 4, outputTokens: 0 } },
  ]);
  const events = await decode(sse(
    { ...TEXT("a"), usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 1 } },
    { ...TEXT("b"), usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 2 } },
    { ...TEXT("c", "MAX_TOKENS"), usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 3 } },
  ));
  assert.equal(events.filter((e) => e.type === "finish").length, 1);
  assert.deepEqual(events.at(-1), {
    type: "finish",
    reason: "length",
    usage: { inputTokens: 5, outputTokens: 3 },
  });
  const garbage = await decode(ReadableStream.from([encoder.encode("data: {not json\n\n")]));
  assert.equal(garbage[0].type, "error");
});

const START: IrEvent = { type: "start", id: "resp-1", model: "gemini-2.5-flash", created: 1 };

Deno.test("encode SSE: CRLF-framed data lines, text as it comes, finish and usage on the last chunk", async () => {
  const text = await encode([
    START,
    { type: "text_delta", text: "Hel" },
    { type: "text_delta", text: "lo" },
    { type: "finish", reason: "stop", usage: { inputTokens: 3, outputTokens: 2 } },
  ], true);
  assert.ok(text.startsWith("data: {"));
  assert.equal(text.split("\r\n\r\n").length, 4, "three events, each ended by CRLF CRLF");
  assert.ok(!/[^\r]\n/.test(text), "no bare LF");
  const chunks = await sseBodies(text);
  assert.deepEqual(chunks, [
    {
      candidates: [{ content: { role: "model", parts: [{ text: "Hel" }] }, index: 0 }],
      modelVersion: "gemini-2.5-flash",
      responseId: "resp-1",
    },
    {
      candidates: [{ content: { role: "model", parts: [{ text: "lo" }] }, index: 0 }],
      modelVersion: "gemini-2.5-flash",
      responseId: "resp-1",
    },
    {
      candidates: [{
        content: { role: "model", parts: [{ text: "" }] },
        finishReason: "STOP",
        index: 0,
      }],
      usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 5 },
      modelVersion: "gemini-2.5-flash",
      responseId: "resp-1",
    },
  ]);
});

Deno.test("encode: tool-call arguments are buffered and the call sent whole; text is never held back", async () => {
  const out: string[] = [];
  const stream = new TransformStream(irToGeminiTransformer({ sse: true }));
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const pump = (async () => {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      out.push(decoder.decode(value));
    }
  })();
  const settle = () => new Promise((r) => setTimeout(r, 0));
  await writer.write(START);
  await writer.write({ type: "text_delta", text: "Checking" });
  await settle();
  assert.equal(out.length, 1, "text goes out at once");
  await writer.write({ type: "tool_call_start", index: 0, id: "toolu_1", name: "get_weather" });
  await writer.write({ type: "tool_call_delta", index: 0, argumentsDelta: '{"city":' });
  await writer.write({ type: "tool_call_delta", index: 0, argumentsDelta: '"Paris"}' });
  await settle();
  assert.equal(out.length, 1, "no partial call");
  await writer.write({ type: "tool_call_end", index: 0 });
  await writer.write({ type: "tool_call_start", index: 1, id: "toolu_2", name: "no_args" });
  await writer.write({ type: "finish", reason: "tool_calls" });
  await writer.close();
  await pump;
  const chunks = await sseBodies(out.join(""));
  assert.deepEqual(chunks.map((c) => c.candidates[0].content.parts), [
    [{ text: "Checking" }],
    [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }],
    [{ functionCall: { name: "no_args", args: {} } }],
    [{ text: "" }],
  ]);
  assert.equal(chunks.at(-1).candidates[0].finishReason, "STOP");
  assert.ok(
    !("id" in chunks[1].candidates[0].content.parts[0].functionCall),
    "Gemini calls carry no id",
  );
});

Deno.test("encode: Gemini signatures are kept, foreign ones ride tagged on the next call, reasoning shown as thoughts", async () => {
  const chunks = await sseBodies(
    await encode([
      START,
      { type: "reasoning_delta", text: "thinking", origin: "anthropic" },
      { type: "reasoning_delta", text: "", signature: "anthropic-sig", origin: "anthropic" },
      { type: "reasoning_delta", text: "gemini thought", signature: "gsig1", origin: "gemini" },
      { type: "reasoning_delta", text: "", signature: "gsig2", origin: "gemini" },
      { type: "text_delta", text: "answer" },
      {
        type: "tool_call_start",
        index: 0,
        id: "a",
        name: "f",
        signature: "gsig3",
        origin: "gemini",
      },
      { type: "tool_call_end", index: 0 },
      {
        type: "tool_call_start",
        index: 1,
        id: "b",
        name: "g",
        signature: "osig",
        origin: "openai",
      },
      { type: "tool_call_end", index: 1 },
      { type: "reasoning_delta", text: "", signature: "gsig4", origin: "gemini" },
      { type: "finish", reason: "tool_calls" },
    ], true),
  );
  const parts = chunks.map((c) => c.candidates[0].content.parts[0]);
  const f = decodeCarried(parts[3].thoughtSignature);
  const g = decodeCarried(parts[4].thoughtSignature);
  assert.deepEqual(parts.map((p) => ({ ...p, thoughtSignature: undefined })).slice(3, 5), [
    { functionCall: { name: "f", args: {} }, thoughtSignature: undefined },
    { functionCall: { name: "g", args: {} }, thoughtSignature: undefined },
  ]);
  assert.deepEqual([parts[0], parts[1], parts[2], parts[5]], [
    { text: "thinking", thought: true },
    { text: "gemini thought", thought: true, thoughtSignature: "gsig1" },
    { text: "answer", thoughtSignature: "gsig2" },
    { text: "", thoughtSignature: "gsig4" },
  ]);
  // The Claude thinking block rides, text and signature, on the call after it.
  assert.deepEqual(f, {
    signature: "gsig3",
    origin: "gemini",
    reasoning: [{
      type: "reasoning",
      text: "thinking",
      signature: "anthropic-sig",
      origin: "anthropic",
    }],
  });
  assert.deepEqual(g, { signature: "osig", origin: "openai" });
});

Deno.test("encode JSON array: `[` first element, `,\\r\\n` between, `]` at the end, valid JSON", async () => {
  const text = await encode([
    START,
    { type: "text_delta", text: "a" },
    { type: "text_delta", text: "b" },
    { type: "finish", reason: "length" },
  ], false);
  assert.ok(text.startsWith("[{"));
  assert.ok(text.endsWith("}]"));
  assert.equal(text.split(",\r\n{").length, 3);
  const arr = JSON.parse(text);
  assert.equal(arr.length, 3);
  assert.equal(arr[2].candidates[0].finishReason, "MAX_TOKENS");
  assert.equal(await encode([], false), "[]");
});

Deno.test("encode: an error event is the last element in both framings", async () => {
  const sseText = await encode([
    START,
    { type: "text_delta", text: "a" },
    { type: "error", status: 429, message: "slow down" },
    { type: "text_delta", text: "ignored" },
  ], true);
  const chunks = await sseBodies(sseText);
  assert.deepEqual(chunks.at(-1), {
    error: { code: 429, message: "slow down", status: "RESOURCE_EXHAUSTED" },
  });
  assert.equal(chunks.length, 2);

  const arr = JSON.parse(
    await encode([START, { type: "error", status: 0, message: "broken" }], false),
  );
  assert.deepEqual(arr, [{ error: { code: 500, message: "broken", status: "INTERNAL" } }]);
  const arr2 = JSON.parse(
    await encode([START, { type: "text_delta", text: "x" }, {
      type: "error",
      status: 502,
      message: "cut",
    }], false),
  );
  assert.deepEqual(arr2.at(-1), { error: { code: 502, message: "cut", status: "UNAVAILABLE" } });
});
