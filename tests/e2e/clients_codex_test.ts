import assert from "node:assert/strict";
import {
  assertAnswered,
  assertCliPrinted,
  type ClientRig,
  cliPath,
  runCli,
  withClientRig,
} from "./clients_cli.ts";

const codex = cliPath("codex");
const HIGH_EFFORT = ["-c", 'model_reasoning_effort="high"'];

Deno.test({
  name:
    "Codex (codex exec, custom provider on /v1/responses) through the gateway to Chat Completions",
  ignore: codex === undefined,
  fn: () =>
    withClientRig({ clientKey: "sk-client-codex-1", upstreamKey: "sk-up-codex" }, async (rig) => {
      const res = await runCodex(rig, "sk-client-codex-1", "fake-gpt");
      assertAnswered(res, rig.up, "the Responses request reached the upstream as Chat Completions");
    }),
});

/** `codex exec "say hello"` against the gateway's Responses endpoint with `model`. */
async function runCodex(rig: ClientRig, key: string, model: string, config: string[] = []) {
  await Deno.mkdir(`${rig.home}/.codex`);
  return await runCli(codex as string, [
    "exec",
    "--skip-git-repo-check",
    "--color",
    "never",
    "-c",
    'model_provider="llmproxy"',
    "-c",
    `model_providers.llmproxy={ name = "llm-proxy", base_url = "${rig.gatewayUrl}/v1", env_key = "LLM_PROXY_KEY", wire_api = "responses" }`,
    ...config,
    "-m",
    model,
    "say hello",
  ], {
    LLM_PROXY_KEY: key,
    CODEX_HOME: `${rig.home}/.codex`,
  }, { timeoutMs: 60_000, home: rig.home });
}

Deno.test({
  name: "Codex on gpt-5: reasoning effort, max_completion_tokens and prompt_cache_key upstream",
  ignore: codex === undefined,
  fn: () =>
    withClientRig({ clientKey: "sk-client-codex-2", upstreamKey: "sk-up-codex" }, async (rig) => {
      const res = await runCodex(rig, "sk-client-codex-2", "gpt-5", HIGH_EFFORT);
      const chat = assertAnswered(res, rig.up, "the Chat upstream got the request", "gpt-5");
      for (const r of chat) {
        assert.equal(r.body.max_tokens, undefined);
        assert.equal(r.body.reasoning_effort, "high");
        assert.equal(typeof r.body.prompt_cache_key, "string");
      }
    }),
});

Deno.test({
  name: "Codex on Claude Opus 4.7: adaptive thinking with output_config.effort",
  ignore: codex === undefined,
  fn: () =>
    withClientRig({ clientKey: "sk-client-codex-3", upstreamKey: "sk-up-codex" }, async (rig) => {
      const res = await runCodex(rig, "sk-client-codex-3", "claude-opus-4-7", HIGH_EFFORT);
      assertCliPrinted(res, "claude-opus-4-7");
      const messages = rig.anthropic.requests.filter((r) => r.path === "/v1/messages");
      assert.ok(messages.length >= 1);
      for (const r of messages) {
        assert.deepEqual(r.body.thinking, { type: "adaptive" });
        assert.deepEqual(r.body.output_config, { effort: "high" });
      }
    }),
});

Deno.test({
  name:
    "Codex remote compaction (v2, compaction_trigger) on an Anthropic upstream: compacts, then continues",
  ignore: codex === undefined,
  fn: () =>
    withClientRig({ clientKey: "sk-client-codex-4", upstreamKey: "sk-up-codex" }, async (rig) => {
      await Deno.mkdir(`${rig.home}/.codex`);
      // Codex compacts remotely only for a provider named "OpenAI" (or Azure); the tiny token
      // limit makes the second run compact before its turn (the first run used 33 tokens).
      const run = (sub: string[], prompt: string) =>
        runCli(codex as string, [
          "exec",
          ...sub,
          "--skip-git-repo-check",
          "-c",
          'model_provider="llmproxy"',
          "-c",
          `model_providers.llmproxy={ name = "OpenAI", base_url = "${rig.gatewayUrl}/v1", env_key = "LLM_PROXY_KEY", wire_api = "responses" }`,
          "-c",
          "model_context_window=200000",
          "-c",
          "model_auto_compact_token_limit=10",
          "-m",
          "claude-sonnet-4-5",
          prompt,
        ], {
          LLM_PROXY_KEY: "sk-client-codex-4",
          CODEX_HOME: `${rig.home}/.codex`,
        }, { timeoutMs: 60_000, home: rig.home });
      const first = await run([], "first question");
      assertCliPrinted(first, "claude-sonnet-4-5");
      const second = await run(["resume", "--last"], "second question");
      assertCliPrinted(second, "claude-sonnet-4-5");
      assert.match(second.stdout + second.stderr, /context compacted/);

      const turns = rig.anthropic.requests.filter((r) => r.path === "/v1/messages")
        .map((r) => JSON.stringify(r.body.messages));
      const asked = turns.findIndex((t) => t.includes("Context compaction: the conversation"));
      assert.ok(asked > 0, "the gateway asked the model for a summary");
      assert.ok(turns[asked].includes("first question"), "of the whole conversation");
      const next = turns.slice(asked + 1).find((t) => t.includes("second question"));
      assert.ok(next, "Codex continued after the compaction");
      assert.ok(next.includes("Summary of the conversation so far"), next);
      // Codex keeps the user messages; the model's earlier answers are in the summary only.
      assert.ok(!next.includes('"role":"assistant"'), "the compacted answers are gone");
    }),
});
