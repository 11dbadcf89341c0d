import assert from "node:assert/strict";
import {
  builtinCapabilities,
  capabilitiesFor,
  effortForBudget,
} from "../../src/ir/capabilities.ts";
import { validateConfig } from "../../src/config/load.ts";
import { BILLING_HEADER_PREFIX, withoutBillingHeader } from "../../src/ir/prompt_cache.ts";
import type { IrPart } from "../../src/ir/types.ts";

Deno.test("capabilities: Claude thinking style by family, with Bedrock and Vertex spellings", () => {
  const style = (id: string) => builtinCapabilities(id).thinking;
  for (
    const id of [
      "claude-opus-4-7",
      "claude-opus-4-7-20260416",
      "claude-opus-4-8",
      "claude-opus-5",
      "claude-fable-5",
      "claude-mythos-1",
      "anthropic.claude-opus-4-7-v1:0",
      "us.anthropic.claude-opus-4-7-v1:0",
      "claude-opus-4-7@20260416",
      "anthropic/claude-opus-4.7",
      "Claude-Opus-4-7",
    ]
  ) assert.equal(style(id), "adaptive", id);
  for (const id of ["claude-opus-4-6", "claude-sonnet-4-6", "anthropic.claude-sonnet-4-6-v1:0"]) {
    assert.equal(style(id), "adaptive_preferred", id);
  }
  for (
    const id of [
      "claude-sonnet-4-5",
      "claude-sonnet-4-5-20250929",
      "claude-opus-4-5",
      "claude-opus-4-1-20250805",
      "claude-sonnet-4-20250514",
      "claude-3-7-sonnet-latest",
      "some-unknown-model",
    ]
  ) assert.equal(style(id), "budget", id);
});

Deno.test("capabilities: OpenAI reasoning models take max_completion_tokens and fixed sampling", () => {
  for (
    const id of ["gpt-5", "gpt-5-mini", "gpt-5.1-codex", "o1", "o3-mini", "o4-mini", "openai/gpt-5"]
  ) {
    const caps = builtinCapabilities(id);
    assert.equal(caps.maxTokensParam, "max_completion_tokens", id);
    assert.equal(caps.fixedSampling, true, id);
  }
  const chat = builtinCapabilities("gpt-5-chat-latest");
  assert.equal(chat.fixedSampling, false);
  for (const id of ["gpt-4o", "gpt-4.1-mini", "deepseek-chat", "qwen3-coder-plus", "omni-x"]) {
    const caps = builtinCapabilities(id);
    assert.equal(caps.maxTokensParam, "max_tokens", id);
    assert.equal(caps.fixedSampling, false, id);
  }
  assert.equal(builtinCapabilities("claude-3-5-haiku-latest").maxOutputTokens, 8192);
});

Deno.test("capabilities: config overrides by exact id and glob, in order", () => {
  const overrides = {
    "*": { max_tokens_param: "max_completion_tokens" as const },
    "my-reasoner-*": { fixed_sampling: true, max_output_tokens: 4000 },
    "my-claude": { thinking: "adaptive" as const },
  };
  const r = capabilitiesFor("my-reasoner-2", overrides);
  assert.deepEqual(r, {
    thinking: "budget",
    maxTokensParam: "max_completion_tokens",
    fixedSampling: true,
    maxOutputTokens: 4000,
  });
  assert.equal(capabilitiesFor("my-claude", overrides).thinking, "adaptive");
  assert.equal(capabilitiesFor("my-claude-2", overrides).thinking, "budget");
  assert.equal(capabilitiesFor("gpt-4o", undefined).maxTokensParam, "max_tokens");
});

Deno.test("capabilities and cache settings validate in the provider config", () => {
  const config = validateConfig({
    providers: [{
      id: "azure",
      type: "openai",
      base_url: "https://example.openai.azure.com/openai/v1",
      capabilities: { "prod-deploy-*": { max_tokens_param: "max_completion_tokens" } },
      cache: { strip_billing_header: false },
    }],
  });
  assert.deepEqual(config.providers[0].cache, {
    strip_billing_header: false,
    auto_breakpoints: false,
  });
  assert.throws(() =>
    validateConfig({
      providers: [{
        id: "a",
        type: "anthropic",
        capabilities: { "*": { thinking: "sometimes" } },
      }],
    })
  );
});

Deno.test("effortForBudget: low up to 2048, medium up to 16384, high above", () => {
  assert.deepEqual([1024, 2048, 2049, 16384, 16385].map(effortForBudget), [
    "low",
    "low",
    "medium",
    "medium",
    "high",
  ]);
});

Deno.test("withoutBillingHeader drops Claude Code's billing block and nothing else", () => {
  const system: IrPart[] = [
    { type: "text", text: `${BILLING_HEADER_PREFIX} cc_version=2.1.197.a1b; cch=93f2e;` },
    { type: "text", text: "You are Claude Code." },
  ];
  assert.deepEqual(withoutBillingHeader(system), [{ type: "text", text: "You are Claude Code." }]);
  const plain: IrPart[] = [{ type: "text", text: "mentions x-anthropic-billing-header: inside" }];
  assert.equal(withoutBillingHeader(plain), plain);
});
