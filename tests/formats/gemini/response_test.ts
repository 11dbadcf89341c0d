import assert from "node:assert/strict";
import { UpstreamError } from "../../../src/errors.ts";
import { geminiFormat } from "../../../src/formats/gemini/format.ts";
import type { CallIdSource } from "../../../src/formats/gemini/parts.ts";
import {
  finishReasonToGemini,
  finishReasonToIr,
  geminiResponseToIr,
  irResponseToGemini,
  usageToGemini,
  usageToIr,
} from "../../../src/formats/gemini/response.ts";
import type { IrRequest, IrResponse } from "../../../src/ir/types.ts";

const FIXTURES = new URL("../../fixtures/gemini/", import.meta.url);

function fixture(name: string): { wire: unknown; ir: IrResponse } {
  return JSON.parse(Deno.readTextFileSync(new URL(name, FIXTURES)));
}

function counterIds(): CallIdSource {
  let n = 0;
  return { next: (_name, explicit) => explicit ?? `call_test_${n++}` };
}

const REQ: IrRequest = { model: "m", system: [], messages: [], tools: [], stop: [], stream: false };

for (const name of ["response_function_call", "response_thinking", "response_blocked"]) {
  Deno.test(`golden upstream response → IR: ${name}`, () => {
    const fx = fixture(`${name}.json`);
    const ir = geminiResponseToIr(fx.wire, { ids: counterIds() });
    const { created, ...rest } = ir;
    assert.ok(Math.abs(created - Date.now() / 1000) < 5);
    assert.deepEqual(rest, fx.ir);
  });
}

Deno.test("golden IR → client response", () => {
  const fx = JSON.parse(Deno.readTextFileSync(new URL("response_to_client.json", FIXTURES)));
  assert.deepEqual(geminiFormat.fromIrResponse(fx.ir, REQ), fx.wire);
});

Deno.test("upstream ids are unique across answers (they must not repeat in a conversation)", () => {
  const fx = fixture("response_function_call.json");
  const a = geminiResponseToIr(fx.wire).content.map((p) => p.type === "tool_call" ? p.id : "");
  const b = geminiResponseToIr(fx.wire).content.map((p) => p.type === "tool_call" ? p.id : "");
  assert.equal(new Set([...a, ...b]).size, 6);
  for (const id of a) assert.match(id, /^call_[a-f0-9]{24}$/);
});

Deno.test("finish reasons both ways", () => {
  assert.equal(finishReasonToIr("STOP", false), "stop");
  assert.equal(finishReasonToIr("STOP", true), "tool_calls");
  assert.equal(finishReasonToIr("MAX_TOKENS", true), "length");
  for (
    const r of ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"]
  ) {
    assert.equal(finishReasonToIr(r, false), "content_filter", r);
  }
  for (const r of ["OTHER", "LANGUAGE", "MALFORMED_FUNCTION_CALL", "FINISH_REASON_UNSPECIFIED"]) {
    assert.equal(finishReasonToIr(r, false), "other", r);
  }
  assert.equal(finishReasonToGemini("stop"), "STOP");
  assert.equal(finishReasonToGemini("tool_calls"), "STOP");
  assert.equal(finishReasonToGemini("length"), "MAX_TOKENS");
  assert.equal(finishReasonToGemini("content_filter"), "SAFETY");
  assert.equal(finishReasonToGemini("error"), "OTHER");
  assert.equal(finishReasonToGemini("other"), "OTHER");
});

Deno.test("usage both ways: thoughts inside output tokens, cached inside prompt", () => {
  const ir = usageToIr({
    promptTokenCount: 100,
    candidatesTokenCount: 20,
    thoughtsTokenCount: 30,
    cachedContentTokenCount: 40,
    toolUsePromptTokenCount: 5,
    totalTokenCount: 155,
  });
  assert.deepEqual(ir, {
    inputTokens: 105,
    outputTokens: 50,
    cachedInputTokens: 40,
    reasoningTokens: 30,
  });
  assert.deepEqual(usageToGemini({ inputTokens: 100, outputTokens: 50, reasoningTokens: 30 }), {
    promptTokenCount: 100,
    candidatesTokenCount: 20,
    totalTokenCount: 150,
    thoughtsTokenCount: 30,
  });
  assert.deepEqual(usageToIr({ promptTokenCount: 3 }), { inputTokens: 3, outputTokens: 0 });
});

Deno.test("IR → client: an empty answer still has one part; signatures only from Gemini", () => {
  const empty = irResponseToGemini({
    id: "x",
    model: "m",
    created: 0,
    content: [],
    finishReason: "content_filter",
  });
  assert.deepEqual(empty.candidates?.[0], {
    content: { role: "model", parts: [{ text: "" }] },
    finishReason: "SAFETY",
    index: 0,
  });
  const signed = irResponseToGemini({
    id: "x",
    model: "m",
    created: 0,
    content: [
      { type: "reasoning", text: "", signature: "g1", origin: "gemini" },
      { type: "text", text: "hi" },
      { type: "tool_call", id: "a", name: "f", arguments: "{}", signature: "g2", origin: "gemini" },
      { type: "reasoning", text: "", signature: "g3", origin: "gemini" },
    ],
    finishReason: "tool_calls",
  });
  assert.deepEqual(signed.candidates?.[0].content?.parts, [
    { text: "hi", thoughtSignature: "g1" },
    { functionCall: { name: "f", args: {} }, thoughtSignature: "g2" },
    { text: "", thoughtSignature: "g3" },
  ]);
});

Deno.test("Gemini → IR → Gemini keeps the parts and signatures of an answer", () => {
  const fx = fixture("response_thinking.json");
  const ir = geminiResponseToIr(fx.wire);
  const back = irResponseToGemini(ir) as { candidates: Array<{ content: { parts: unknown[] } }> };
  const original = fx.wire as { candidates: Array<{ content: { parts: unknown[] } }> };
  assert.deepEqual(back.candidates[0].content.parts, original.candidates[0].content.parts);
});

Deno.test("a body that is not a GenerateContentResponse is a 502", () => {
  assert.throws(() => geminiResponseToIr({ candidates: "nope" }), (err: unknown) => {
    assert.ok(err instanceof UpstreamError);
    assert.equal(err.status, 502);
    return true;
  });
});
