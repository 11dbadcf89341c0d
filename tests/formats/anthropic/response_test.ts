import assert from "node:assert/strict";
import { UpstreamError } from "../../../src/errors.ts";
import {
  anthropicResponseToIr,
  finishReasonToAnthropic,
  irResponseToAnthropic,
  stopReasonToIr,
  usageToAnthropic,
  usageToIr,
} from "../../../src/formats/anthropic/response.ts";
import type { IrRequest, IrResponse } from "../../../src/ir/types.ts";
import { assertGolden, fixtureJson } from "./golden.ts";

const REQ: IrRequest = {
  model: "smart",
  system: [],
  messages: [{ role: "user", parts: [{ type: "text", text: "What's the weather in Paris?" }] }],
  tools: [],
  stop: [],
  stream: false,
};

Deno.test("golden: an Anthropic tool_use Message → IR", async () => {
  const res = anthropicResponseToIr(await fixtureJson("response_tool_use.json"));
  assert.ok(Math.abs(res.created - Date.now() / 1000) < 5);
  await assertGolden("response_tool_use.ir.json", { ...res, created: 0 });
});

Deno.test("golden: an IR answer → Anthropic Message for the client", async () => {
  const res: IrResponse = {
    id: "chatcmpl-abc123",
    model: "gpt-4o",
    created: 1_700_000_000,
    content: [
      { type: "reasoning", text: "Think about Paris.", signature: "CiQBsig", origin: "gemini" },
      { type: "reasoning", text: "", redacted: "gAAAAB", origin: "openai" },
      { type: "reasoning", text: "Signed by Claude.", signature: "EqQBsig", origin: "anthropic" },
      { type: "reasoning", text: "unsigned" },
      { type: "text", text: "" },
      { type: "text", text: "Checking the weather." },
      { type: "tool_call", id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
      { type: "tool_call", id: "call_2", name: "get_time", arguments: "" },
    ],
    finishReason: "tool_calls",
    usage: { inputTokens: 120, outputTokens: 30, cachedInputTokens: 100, reasoningTokens: 10 },
  };
  await assertGolden("ir_response.anthropic.json", irResponseToAnthropic(res, REQ));
});

Deno.test("stop reasons map both ways", () => {
  assert.equal(stopReasonToIr("end_turn"), "stop");
  assert.equal(stopReasonToIr("stop_sequence"), "stop");
  assert.equal(stopReasonToIr("max_tokens"), "length");
  assert.equal(stopReasonToIr("tool_use"), "tool_calls");
  assert.equal(stopReasonToIr("refusal"), "content_filter");
  assert.equal(stopReasonToIr("pause_turn"), "other");
  assert.equal(stopReasonToIr(null), "stop");
  assert.equal(finishReasonToAnthropic("stop"), "end_turn");
  assert.equal(finishReasonToAnthropic("length"), "max_tokens");
  assert.equal(finishReasonToAnthropic("tool_calls"), "tool_use");
  assert.equal(finishReasonToAnthropic("content_filter"), "refusal");
  assert.equal(finishReasonToAnthropic("other"), "end_turn");
});

Deno.test("usage: IR input is the whole prompt, cache reads and writes reported separately", () => {
  const ir = usageToIr({
    input_tokens: 10,
    cache_read_input_tokens: 200,
    cache_creation_input_tokens: 5,
    output_tokens: 7,
  });
  assert.deepEqual(ir, {
    inputTokens: 215,
    outputTokens: 7,
    cachedInputTokens: 200,
    cacheWriteTokens: 5,
  });
  // Both round-trip to an Anthropic client.
  assert.deepEqual(usageToAnthropic(ir), {
    input_tokens: 10,
    output_tokens: 7,
    cache_read_input_tokens: 200,
    cache_creation_input_tokens: 5,
  });
  assert.deepEqual(usageToIr({ input_tokens: 3, output_tokens: 4 }), {
    inputTokens: 3,
    outputTokens: 4,
  });
  assert.deepEqual(
    usageToAnthropic({ inputTokens: 215, outputTokens: 7, cachedInputTokens: 200 }),
    {
      input_tokens: 15,
      output_tokens: 7,
      cache_read_input_tokens: 200,
    },
  );
});

Deno.test("a missing usage is estimated rather than zero", () => {
  const msg = irResponseToAnthropic({
    id: "x",
    model: "m",
    created: 0,
    content: [{ type: "text", text: "twelve chars" }],
    finishReason: "stop",
  }, REQ);
  assert.ok(msg.usage.input_tokens > 0);
  assert.equal(msg.usage.output_tokens, 3);
});

Deno.test("anthropicResponseToIr rejects a body that is not a Message", () => {
  assert.throws(() => anthropicResponseToIr({ hello: "world" }), (err: unknown) => {
    assert.ok(err instanceof UpstreamError);
    assert.equal(err.status, 502);
    return true;
  });
});
