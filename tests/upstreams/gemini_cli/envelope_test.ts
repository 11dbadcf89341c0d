import assert from "node:assert/strict";
import { geminiResponseToIr } from "../../../src/formats/gemini/response.ts";
import type { IrEvent } from "../../../src/ir/types.ts";
import {
  codeAssistSseToIr,
  unwrapCodeAssistResponse,
} from "../../../src/upstreams/gemini_cli/envelope.ts";

const FIXTURES = new URL("../../fixtures/gemini_cli/", import.meta.url);
const encoder = new TextEncoder();

/** The bytes in chunks of `size`, to split lines, CRLFs and UTF-8 anywhere. */
function bodyOf(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

async function decode(body: ReadableStream<Uint8Array>): Promise<IrEvent[]> {
  const out: IrEvent[] = [];
  for await (const e of codeAssistSseToIr(body, { model: "m" })) {
    out.push(e.type === "start" ? { ...e, created: 0 } : e);
  }
  return out;
}

Deno.test("stream fixture: CRLF envelopes → IR events, whatever the chunking", async () => {
  const bytes = await Deno.readFile(new URL("stream_text.sse", FIXTURES));
  assert.ok(new TextDecoder().decode(bytes).includes("\r\n\r\n"));
  const expected = JSON.parse(await Deno.readTextFile(new URL("stream_text.ir.json", FIXTURES)))
    .map((e: IrEvent) => e.type === "start" ? { ...e, created: 0 } : e);
  for (const size of [bytes.length, 64, 7, 1]) {
    assert.deepEqual(await decode(bodyOf(bytes, size)), expected, `chunk size ${size}`);
  }
});

Deno.test("generate fixture: envelope unwrapped, traceId as response id, thoughts counted", async () => {
  const envelope = JSON.parse(await Deno.readTextFile(new URL("generate_response.json", FIXTURES)));
  const res = geminiResponseToIr(unwrapCodeAssistResponse(envelope), { model: "m" });
  assert.equal(res.id, "a1b2c3d4e5f60718");
  assert.equal(res.model, "gemini-2.5-pro");
  assert.deepEqual(res.content, [{ type: "text", text: "Paris is the capital of France." }]);
  assert.equal(res.finishReason, "stop");
  assert.deepEqual(res.usage, { inputTokens: 7, outputTokens: 33, reasoningTokens: 26 });
});

Deno.test("unwrap: non-envelopes pass unchanged", () => {
  const bare = { candidates: [] };
  assert.equal(unwrapCodeAssistResponse(bare), bare);
  const error = { error: { code: 503, message: "overloaded", status: "UNAVAILABLE" } };
  assert.equal(unwrapCodeAssistResponse(error), error);
  assert.equal(unwrapCodeAssistResponse("x"), "x");
  assert.deepEqual(unwrapCodeAssistResponse({ response: { responseId: "r" }, traceId: "t" }), {
    responseId: "r",
  });
});

Deno.test("stream: an in-stream error element and a non-JSON line become error events", async () => {
  const first = JSON.stringify({
    response: { candidates: [{ content: { role: "model", parts: [{ text: "Hi" }] } }] },
    traceId: "t1",
  });
  const error = JSON.stringify({
    error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" },
  });
  const events = await decode(
    bodyOf(encoder.encode(`data: ${first}\r\n\r\ndata: ${error}\r\n\r\n`), 16),
  );
  assert.deepEqual(events, [
    { type: "start", id: "t1", model: "m", created: 0 },
    { type: "text_delta", text: "Hi" },
    {
      type: "error",
      status: 502,
      message: "Gemini upstream error UNAVAILABLE: The model is overloaded.",
    },
  ]);

  const junk = await decode(bodyOf(encoder.encode("data: not json\r\n\r\n"), 100));
  assert.deepEqual(junk, [
    { type: "error", status: 502, message: "The Gemini upstream sent a chunk that is not JSON." },
  ]);
});

Deno.test("stream: a stream cut off before finishReason ends with an error event", async () => {
  const chunk = JSON.stringify({
    response: { candidates: [{ content: { role: "model", parts: [{ text: "Hi" }] } }] },
  });
  const events = await decode(bodyOf(encoder.encode(`data: ${chunk}\r\n\r\n`), 100));
  assert.equal(events.at(-1)?.type, "error");
});
