import assert from "node:assert/strict";
import { RequestError } from "../../../src/errors.ts";
import { anthropicFormat, countTokensResponse } from "../../../src/formats/anthropic/format.ts";
import { estimateInputTokens } from "../../../src/ir/estimate_tokens.ts";
import {
  anthropicRequestToIr,
  DEFAULT_MAX_TOKENS,
  irToAnthropicRequest,
} from "../../../src/formats/anthropic/request.ts";
import { messagesRequestSchema } from "../../../src/formats/anthropic/schema.ts";
import type { IrMessage, IrRequest } from "../../../src/ir/types.ts";
import { assertGolden, fixtureJson } from "./golden.ts";

function ir(messages: IrMessage[], extra: Partial<IrRequest> = {}): IrRequest {
  return { model: "m", system: [], messages, tools: [], stop: [], stream: false, ...extra };
}

function toIr(body: unknown): IrRequest {
  return anthropicFormat.toIr(body, {});
}

function rejects(body: unknown, expected: RegExp): void {
  assert.throws(() => toIr(body), (err: unknown) => {
    assert.ok(err instanceof RequestError);
    assert.equal(err.status, 400);
    assert.match(err.message, expected);
    return true;
  });
}

Deno.test("golden: a Claude Code request → IR", async () => {
  await assertGolden(
    "request_claude_code.ir.json",
    toIr(await fixtureJson("request_claude_code.json")),
  );
});

Deno.test("golden: a mixed IR request (from OpenAI-style history) → Anthropic body", async () => {
  const req = await fixtureJson("ir_request_mixed.json") as IrRequest;
  await assertGolden("ir_request_mixed.anthropic.json", irToAnthropicRequest(req, "claude-x"));
});

Deno.test("toIr tolerates unknown fields, blocks, tools and thinking types", () => {
  const out = toIr({
    model: "claude",
    messages: [{
      role: "user",
      content: [
        { type: "text", text: "hi", citations: [], brand_new_field: 1 },
        { type: "container_upload", file_id: "f" },
      ],
    }],
    thinking: { type: "interleaved-something" },
    tools: [{ type: "memory_20250818", name: "memory" }, { name: "t", input_schema: {}, x: 1 }],
    future_top_level: { a: 1 },
    context_management: { edits: [] },
  });
  assert.deepEqual(out.messages, [{ role: "user", parts: [{ type: "text", text: "hi" }] }]);
  assert.deepEqual(out.tools, [{ name: "t", parameters: {} }]);
  assert.equal(out.reasoning, undefined);
});

Deno.test("toIr names the field when validation fails", () => {
  rejects({ messages: [] }, /'model'/);
  rejects({ model: "m", messages: [] }, /messages must contain at least one message/);
  rejects({ model: "m", messages: [{ role: "tool", content: "x" }] }, /messages\[0\]\.role/);
  rejects(
    { model: "m", messages: [{ role: "user", content: [{ type: "text" }] }] },
    /messages\[0\]\.content\[0\]\.text/,
  );
  rejects(
    {
      model: "m",
      messages: [{ role: "user", content: [{ type: "tool_result", content: "x" }] }],
    },
    /content\[0\]\.tool_use_id/,
  );
  rejects(
    { model: "m", messages: [{ role: "user", content: "x" }], max_tokens: "many" },
    /'max_tokens'/,
  );
  rejects(
    { model: "m", messages: [{ role: "user", content: "x" }], thinking: { type: "enabled" } },
    /thinking\.budget_tokens/,
  );
  rejects([1, 2], /JSON object/);
});

Deno.test("toIr: tool results become a tool turn before the rest of the user turn", () => {
  const out = toIr({
    model: "m",
    messages: [
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: [{ type: "tool_use", id: "t1", name: "w", input: null }],
      },
      {
        role: "user",
        content: [
          { type: "text", text: "here" },
          { type: "tool_result", tool_use_id: "t1", is_error: true },
        ],
      },
    ],
  });
  assert.deepEqual(out.messages.slice(1), [
    { role: "assistant", parts: [{ type: "tool_call", id: "t1", name: "w", arguments: "{}" }] },
    {
      role: "tool",
      parts: [{ type: "tool_result", toolCallId: "t1", content: [], isError: true }],
    },
    { role: "user", parts: [{ type: "text", text: "here" }] },
  ]);
});

Deno.test("toIr maps thinking, effort, tool_choice, JSON output and metadata", () => {
  const base = { model: "m", messages: [{ role: "user", content: "x" }] };
  assert.deepEqual(
    toIr({ ...base, thinking: { type: "enabled", budget_tokens: 4000 } }).reasoning,
    {
      enabled: true,
      budgetTokens: 4000,
      includeThoughts: true,
    },
  );
  assert.deepEqual(toIr({ ...base, thinking: { type: "disabled" } }).reasoning, { enabled: false });
  assert.deepEqual(
    toIr({
      ...base,
      thinking: { type: "adaptive", display: "omitted" },
      output_config: { effort: "max" },
    })
      .reasoning,
    { enabled: true, includeThoughts: false, effort: "high" },
  );
  assert.deepEqual(toIr({ ...base, tool_choice: { type: "any" } }).toolChoice, {
    type: "required",
  });
  assert.deepEqual(toIr({ ...base, tool_choice: { type: "tool", name: "w" } }).toolChoice, {
    type: "tool",
    name: "w",
  });
  assert.deepEqual(toIr({ ...base, tool_choice: { type: "none" } }).toolChoice, { type: "none" });
  const schema = { type: "object", properties: {} };
  assert.deepEqual(
    toIr({ ...base, output_config: { format: { type: "json_schema", schema } } }).responseFormat,
    { type: "json_schema", schema },
  );
  assert.deepEqual(
    toIr({ ...base, output_format: { type: "json_schema", schema } }).responseFormat,
    { type: "json_schema", schema },
  );
  assert.equal(toIr({ ...base, metadata: { user_id: "u1" } }).user, "u1");
});

Deno.test("toIr: a foreign signature tagged on the way out returns with its origin", () => {
  const out = toIr({
    model: "m",
    messages: [
      { role: "user", content: "x" },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "g", signature: "llmproxy.gemini.CiQBsig" },
          { type: "thinking", thinking: "plain", signature: "" },
          { type: "redacted_thinking", data: "llmproxy.openai.gAAAA" },
          { type: "thinking", thinking: "", signature: "" },
        ],
      },
    ],
  });
  assert.deepEqual(out.messages[1].parts, [
    { type: "reasoning", text: "g", signature: "CiQBsig", origin: "gemini" },
    { type: "reasoning", text: "plain" },
    { type: "reasoning", text: "", redacted: "gAAAA", origin: "openai" },
  ]);
});

Deno.test("irToAnthropicRequest: max_tokens default, thinking budget and sampling rules", () => {
  const user: IrMessage = { role: "user", parts: [{ type: "text", text: "hi" }] };
  assert.equal(irToAnthropicRequest(ir([user]), "c").max_tokens, DEFAULT_MAX_TOKENS);
  assert.equal(irToAnthropicRequest(ir([user], { maxTokens: 100 }), "c").max_tokens, 100);

  const thinking = irToAnthropicRequest(
    ir([user], { reasoning: { budgetTokens: 10000 }, maxTokens: 4000, temperature: 0.3, topK: 5 }),
    "c",
  );
  assert.deepEqual(thinking.thinking, { type: "enabled", budget_tokens: 10000 });
  assert.equal(thinking.max_tokens, 14000);
  assert.equal(thinking.temperature, undefined);
  assert.equal(thinking.top_k, undefined);

  const small = irToAnthropicRequest(ir([user], { reasoning: { budgetTokens: 100 } }), "c");
  assert.deepEqual(small.thinking, { type: "enabled", budget_tokens: 1024 });
  assert.equal(small.max_tokens, DEFAULT_MAX_TOKENS);

  // Gemini's budget 0 means off; enabled:false means off.
  assert.equal(
    irToAnthropicRequest(ir([user], { reasoning: { budgetTokens: 0 } }), "c").thinking,
    undefined,
  );
  assert.equal(
    irToAnthropicRequest(ir([user], { reasoning: { enabled: false, effort: "high" } }), "c")
      .thinking,
    undefined,
  );
  assert.deepEqual(
    irToAnthropicRequest(ir([user], { reasoning: { effort: "low" } }), "c").thinking,
    { type: "enabled", budget_tokens: 2048 },
  );

  // A forced tool choice and thinking do not mix on Anthropic: thinking yields.
  const forced = irToAnthropicRequest(
    ir([user], {
      reasoning: { effort: "high" },
      tools: [{ name: "w", parameters: { type: "object" } }],
      toolChoice: { type: "required" },
    }),
    "c",
  );
  assert.equal(forced.thinking, undefined);
  assert.deepEqual(forced.tool_choice, { type: "any" });

  const plain = irToAnthropicRequest(ir([user], { temperature: 1.7, topP: 0.5, topK: 3 }), "c");
  assert.equal(plain.temperature, 1);
  assert.equal(plain.top_p, 0.5);
  assert.equal(plain.top_k, 3);
});

Deno.test("irToAnthropicRequest drops thinking when the continued turn has none", () => {
  const body = irToAnthropicRequest(
    ir([
      { role: "user", parts: [{ type: "text", text: "weather?" }] },
      { role: "assistant", parts: [{ type: "tool_call", id: "c1", name: "w", arguments: "{}" }] },
      {
        role: "tool",
        parts: [{
          type: "tool_result",
          toolCallId: "c1",
          content: [{ type: "text", text: "sun" }],
        }],
      },
    ], { reasoning: { effort: "medium" } }),
    "c",
  );
  assert.equal(body.thinking, undefined);
});

Deno.test("irToAnthropicRequest trims a trailing-whitespace prefill and keeps tool_choice none", () => {
  const body = irToAnthropicRequest(
    ir([
      { role: "user", parts: [{ type: "text", text: "Say hi" }] },
      { role: "assistant", parts: [{ type: "text", text: "Hi   \n" }] },
    ], { tools: [{ name: "w", parameters: {} }], toolChoice: { type: "none" } }),
    "c",
  );
  assert.deepEqual(body.messages[1], {
    role: "assistant",
    content: [{ type: "text", text: "Hi" }],
  });
  assert.deepEqual(body.tool_choice, { type: "none" });
  assert.deepEqual(body.tools, [{ name: "w", input_schema: { type: "object" } }]);
});

Deno.test("irToAnthropicRequest: a lone tool call without result gets a stub result", () => {
  const body = irToAnthropicRequest(
    ir([
      { role: "user", parts: [{ type: "text", text: "go" }] },
      { role: "assistant", parts: [{ type: "tool_call", id: "c9", name: "w", arguments: "{}" }] },
    ]),
    "c",
  );
  assert.equal(body.messages.length, 3);
  assert.deepEqual(body.messages[2].content, [{
    type: "tool_result",
    tool_use_id: "c9",
    content: "No result was provided for this tool call.",
    is_error: true,
  }]);
});

Deno.test("irToAnthropicRequest: JSON object mode becomes a system instruction", () => {
  const body = irToAnthropicRequest(
    ir([{ role: "user", parts: [{ type: "text", text: "list" }] }], {
      system: [{ type: "text", text: "Be brief." }],
      responseFormat: { type: "json_object" },
    }),
    "c",
  );
  assert.match(
    String(body.system),
    /^Be brief\.\n\nRespond only with a single valid JSON object\./,
  );
});

Deno.test("a Claude Code body round-trips through the IR into an Anthropic body", async () => {
  const parsed = messagesRequestSchema.parse(await fixtureJson("request_claude_code.json"));
  const body = irToAnthropicRequest(anthropicRequestToIr(parsed), "claude-upstream");
  // Signed thinking survives; the system turn is folded into the top-level system prompt.
  assert.equal(body.messages[1].content[0].type, "thinking");
  assert.equal(body.messages[1].content[1].type, "redacted_thinking");
  // The client's cache breakpoints (system, a user block, the last tool) stay where they were,
  // so the system prompt goes as blocks.
  assert.ok(Array.isArray(body.system));
  assert.match(body.system.map((b) => b.text).join("\n\n"), /plan mode/);
  assert.deepEqual(body.system.filter((b) => b.cache_control).map((b) => b.text), [
    "You are an interactive CLI tool that helps users with software engineering tasks.",
  ]);
  assert.deepEqual(body.messages[0].content.filter((b) => "cache_control" in b), [
    {
      type: "text",
      text: "What's the weather like in San Francisco?",
      cache_control: { type: "ephemeral" },
    },
  ]);
  assert.deepEqual(body.tools?.map((t) => t.cache_control), [undefined, { type: "ephemeral" }]);
  assert.deepEqual(body.messages.map((m) => m.role), [
    "user",
    "assistant",
    "user",
    "assistant",
    "user",
  ]);
  assert.deepEqual(body.tools?.map((t) => t.name), ["get_weather", "get_time"]);
});

Deno.test("countTokensResponse estimates locally", () => {
  const out = countTokensResponse(estimateInputTokens(toIr({
    model: "m",
    messages: [{ role: "user", content: "one two three four five six seven eight" }],
  })));
  assert.ok(out.input_tokens > 4 && out.input_tokens < 40);
});

Deno.test("irToAnthropicRequest: adaptive thinking with output_config.effort for Opus 4.6+ models", () => {
  const user: IrMessage = { role: "user", parts: [{ type: "text", text: "hi" }] };
  const cases: Array<[IrRequest["reasoning"], string | undefined]> = [
    [{ effort: "high" }, "high"],
    [{ effort: "minimal" }, "low"],
    [{ enabled: true, budgetTokens: 1500 }, "low"],
    [{ enabled: true, budgetTokens: 30000 }, "high"],
    [{ enabled: true }, undefined],
  ];
  for (const model of ["claude-opus-4-7", "claude-sonnet-4-6", "anthropic.claude-opus-5-v1:0"]) {
    for (const [reasoning, effort] of cases) {
      const body = irToAnthropicRequest(ir([user], { reasoning, temperature: 0.2 }), model);
      assert.deepEqual(body.thinking, { type: "adaptive" }, model);
      assert.deepEqual(body.output_config, effort ? { effort } : undefined, model);
      assert.equal(body.temperature, undefined, "sampling is refused with thinking");
      assert.equal(body.max_tokens, 16384, "room for adaptive thinking");
    }
    // Off means no thinking field at all: adaptive-only models refuse `disabled`.
    const off = irToAnthropicRequest(ir([user], { reasoning: { enabled: false } }), model);
    assert.equal(off.thinking, undefined);
  }
  // Older models keep the budget form; a config override switches an unknown id to adaptive.
  const old = irToAnthropicRequest(
    ir([user], { reasoning: { effort: "high" } }),
    "claude-sonnet-4-5",
  );
  assert.deepEqual(old.thinking, { type: "enabled", budget_tokens: 16384 });
  assert.equal(old.output_config, undefined);
  const custom = irToAnthropicRequest(
    ir([user], { reasoning: { effort: "medium" } }),
    "house-claude",
    {
      caps: { thinking: "adaptive", maxTokensParam: "max_tokens", fixedSampling: false },
    },
  );
  assert.deepEqual(custom.thinking, { type: "adaptive" });
  assert.deepEqual(custom.output_config, { effort: "medium" });
});

Deno.test("irToAnthropicRequest: max_tokens is lowered to the model's output limit", () => {
  const user: IrMessage = { role: "user", parts: [{ type: "text", text: "hi" }] };
  const body = irToAnthropicRequest(ir([user], { maxTokens: 500_000 }), "claude-3-5-haiku-latest");
  assert.equal(body.max_tokens, 8192);
  const thinking = irToAnthropicRequest(
    ir([user], { maxTokens: 8000, reasoning: { budgetTokens: 8000 } }),
    "claude-3-7-sonnet-latest",
  );
  assert.deepEqual(thinking.thinking, { type: "enabled", budget_tokens: 8000 });
  assert.equal(thinking.max_tokens, 16000);
});

Deno.test("irToAnthropicRequest: auto breakpoints mark system, tools and the last user turn", () => {
  const req = ir([
    { role: "user", parts: [{ type: "text", text: "first" }] },
    { role: "assistant", parts: [{ type: "text", text: "ok" }] },
    { role: "user", parts: [{ type: "text", text: "second" }] },
  ], {
    system: [{ type: "text", text: "Be brief." }, { type: "text", text: "Be kind." }],
    tools: [{ name: "a", parameters: { type: "object" } }, { name: "b", parameters: {} }],
  });
  const plain = irToAnthropicRequest(req, "claude-sonnet-4-5");
  assert.equal(plain.system, "Be brief.\n\nBe kind.");
  assert.ok(!JSON.stringify(plain).includes("cache_control"));
  const body = irToAnthropicRequest(req, "claude-sonnet-4-5", { autoBreakpoints: true });
  const mark = { type: "ephemeral" };
  assert.deepEqual(body.system, [{
    type: "text",
    text: "Be brief.\n\nBe kind.",
    cache_control: mark,
  }]);
  assert.equal(body.tools?.[0].cache_control, undefined);
  assert.deepEqual(body.tools?.[1].cache_control, mark);
  assert.deepEqual(body.messages.at(-1)?.content, [
    { type: "text", text: "second", cache_control: mark },
  ]);
  assert.equal(JSON.stringify(body).split("cache_control").length - 1, 3, "three breakpoints");
});
