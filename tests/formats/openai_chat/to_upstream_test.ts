import assert from "node:assert/strict";
import { irToChatRequest } from "../../../src/formats/openai_chat/to_upstream.ts";
import type { IrRequest } from "../../../src/ir/types.ts";

function ir(extra: Partial<IrRequest> = {}): IrRequest {
  return {
    model: "m",
    system: [],
    messages: [{ role: "user", parts: [{ type: "text", text: "hi" }] }],
    tools: [],
    stop: [],
    stream: false,
    ...extra,
  };
}

Deno.test("irToChatRequest: reasoning models get max_completion_tokens and default sampling only", () => {
  const dropped: string[][] = [];
  const req = ir({ maxTokens: 1000, temperature: 0.2, topP: 0.9, reasoning: { effort: "high" } });
  for (const model of ["gpt-5", "gpt-5-mini", "o3", "o4-mini"]) {
    const body = irToChatRequest(req, model, { onDropped: (f) => dropped.push(f) });
    assert.equal(body.max_completion_tokens, 1000, model);
    assert.equal(body.max_tokens, undefined, model);
    assert.equal(body.temperature, undefined, model);
    assert.equal(body.top_p, undefined, model);
    assert.equal(body.reasoning_effort, "high", model);
  }
  assert.deepEqual(dropped[0], ["temperature", "top_p"]);
  // The default value is accepted, so it is kept.
  assert.equal(irToChatRequest(ir({ temperature: 1 }), "gpt-5").temperature, 1);
  const classic = irToChatRequest(req, "gpt-4o");
  assert.equal(classic.max_tokens, 1000);
  assert.equal(classic.temperature, 0.2);
  assert.equal(classic.top_p, 0.9);
});

Deno.test("irToChatRequest: a token budget becomes an effort; thinking off sends none", () => {
  const budget = (b: number) =>
    irToChatRequest(ir({ reasoning: { enabled: true, budgetTokens: b } }), "gpt-5")
      .reasoning_effort;
  assert.deepEqual([1024, 8000, 32000].map(budget), ["low", "medium", "high"]);
  assert.equal(
    irToChatRequest(ir({ reasoning: { enabled: false } }), "gpt-5").reasoning_effort,
    undefined,
  );
});

Deno.test("irToChatRequest: system blocks joined by a blank line; prompt_cache_key only when asked", () => {
  const req = ir({
    system: [{ type: "text", text: "You are a helper." }, { type: "text", text: "Be brief." }],
    promptCacheKey: "conv-42",
  });
  const body = irToChatRequest(req, "gpt-5", { promptCacheKey: true });
  const messages = body.messages as Array<{ role: string; content: string }>;
  assert.deepEqual(messages[0], { role: "system", content: "You are a helper.\n\nBe brief." });
  assert.equal(body.prompt_cache_key, "conv-42");
  assert.equal(irToChatRequest(req, "deepseek-chat").prompt_cache_key, undefined);
});

Deno.test("irToChatRequest: models that do not reason get no reasoning_effort", () => {
  const req = ir({ reasoning: { effort: "high" } });
  for (const model of ["gpt-4o", "gpt-4.1-mini", "gpt-5-chat-latest"]) {
    assert.equal(irToChatRequest(req, model).reasoning_effort, undefined, model);
  }
  assert.equal(irToChatRequest(req, "deepseek-reasoner").reasoning_effort, "high");
});
