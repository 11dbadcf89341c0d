import assert from "node:assert/strict";
import { GatewayError, UpstreamError } from "../../src/errors.ts";
import { errorResponse } from "../../src/formats/caller_format.ts";
import type { ClientFormat } from "../../src/formats/client_format.ts";
import { anthropicFormat } from "../../src/formats/anthropic/format.ts";
import { geminiFormat } from "../../src/formats/gemini/format.ts";
import { openAIChatFormat } from "../../src/formats/openai_chat/format.ts";
import { openAIResponsesFormat } from "../../src/formats/openai_responses/format.ts";
import { fuse } from "../../src/http/fused_stream.ts";
import type { IrEvent, IrRequest } from "../../src/ir/types.ts";

/** Context-length wordings of the three upstream families, as their adapters report them. */
const CONTEXT_ERRORS = [
  new UpstreamError(
    400,
    "Upstream error (400): This model's maximum context length is 128000 tokens.",
    { code: "context_length_exceeded" },
  ),
  new UpstreamError(400, "prompt is too long: 210417 tokens > 200000 maximum", {
    code: "invalid_request_error",
  }),
  new UpstreamError(
    400,
    "Gemini upstream answered 400 INVALID_ARGUMENT: The input token count (1210417) exceeds the maximum number of tokens allowed (1048576).",
    { code: "invalid_argument" },
  ),
];

async function body(err: GatewayError, caller: "openai" | "anthropic" | "gemini") {
  const res = errorResponse(err, caller);
  return { status: res.status, json: await res.json() };
}

Deno.test("context-length errors answer in each caller's own code and wording", async () => {
  for (const err of CONTEXT_ERRORS) {
    assert.equal(err.kind, "context_length", err.message);
    const openai = await body(err, "openai");
    assert.equal(openai.status, 400);
    assert.equal(openai.json.error.code, "context_length_exceeded");
    assert.equal(openai.json.error.type, "invalid_request_error");
    const anthropic = await body(err, "anthropic");
    assert.equal(anthropic.json.error.type, "invalid_request_error");
    assert.match(anthropic.json.error.message, /^prompt is too long/);
    const gemini = await body(err, "gemini");
    assert.equal(gemini.json.error.status, "INVALID_ARGUMENT");
    assert.equal(gemini.json.error.code, 400);
  }
  // Other 400s stay what they were.
  const plain = new UpstreamError(400, "Invalid 'messages': bad request");
  assert.equal(plain.kind, "invalid_request");
  assert.doesNotMatch((await body(plain, "anthropic")).json.error.message, /prompt is too long/);
});

Deno.test("an upstream 413 is request_too_large for Anthropic callers", async () => {
  const err = new UpstreamError(413, "Request exceeds the maximum allowed number of bytes.");
  assert.equal(err.kind, "too_large");
  const anthropic = await body(err, "anthropic");
  assert.equal(anthropic.status, 413);
  assert.equal(anthropic.json.error.type, "request_too_large");
  const openai = await body(err, "openai");
  assert.equal(openai.status, 413);
  assert.equal(openai.json.error.code, "request_too_large");
  assert.equal((await body(err, "gemini")).json.error.status, "INVALID_ARGUMENT");
});

const REQ: IrRequest = {
  model: "m",
  system: [],
  messages: [{ role: "user", parts: [{ type: "text", text: "hi" }] }],
  tools: [],
  stop: [],
  stream: true,
};

async function streamText(format: ClientFormat, events: IrEvent[]): Promise<string> {
  const encoded = format.encodeStream(REQ, { sse: true, stream: true });
  return await new Response(fuse(ReadableStream.from(events), [encoded.transformer])).text();
}

Deno.test("in-stream context-length and 413 errors carry each format's code and wording", async () => {
  const context: IrEvent[] = [
    { type: "start", id: "x", model: "m", created: 0 },
    {
      type: "error",
      status: 400,
      message: "This model's maximum context length is 128000 tokens.",
    },
  ];
  const chat = await streamText(openAIChatFormat, context);
  assert.match(chat, /"code":"context_length_exceeded"/);
  assert.match(chat, /"type":"invalid_request_error"/);
  const responses = await streamText(openAIResponsesFormat, context);
  assert.match(responses, /event: response\.failed[\s\S]*"code":"context_length_exceeded"/);
  const anthropic = await streamText(anthropicFormat, context);
  assert.match(
    anthropic,
    /event: error\ndata: \{"type":"error","error":\{"type":"invalid_request_error","message":"prompt is too long: This model/,
  );
  const gemini = await streamText(geminiFormat, context);
  assert.match(gemini, /"status":"INVALID_ARGUMENT"/);

  const large: IrEvent[] = [
    { type: "start", id: "x", model: "m", created: 0 },
    { type: "error", status: 413, message: "Request too large." },
  ];
  assert.match(await streamText(anthropicFormat, large), /"type":"request_too_large"/);
  assert.match(await streamText(openAIChatFormat, large), /"code":"request_too_large"/);
  assert.match(await streamText(geminiFormat, large), /"code":413,.*"status":"INVALID_ARGUMENT"/);
});
