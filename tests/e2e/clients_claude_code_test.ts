import assert from "node:assert/strict";
import {
  assertAnswered,
  assertCliPrinted,
  type ClientRig,
  cliPath,
  runCli,
  withClientRig,
} from "./clients_cli.ts";

const claude = cliPath("claude");

Deno.test({
  name: "Claude Code (claude -p) through the gateway to an OpenAI upstream",
  ignore: claude === undefined,
  fn: () =>
    withClientRig({ clientKey: "sk-client-claude-1", upstreamKey: "sk-up-claude" }, async (rig) => {
      const res = await runClaude(rig, "sk-client-claude-1", "fake-gpt");
      const chat = assertAnswered(res, rig.up, "the OpenAI upstream got the converted request");
      assert.equal(chat[0].headers.get("authorization"), "Bearer sk-up-claude");
    }),
});

/** `claude -p "say hello"` with every model variable set to `model`. */
function runClaude(rig: ClientRig, key: string, model: string) {
  return runCli(claude as string, ["-p", "say hello", "--output-format", "text"], {
    ANTHROPIC_BASE_URL: rig.gatewayUrl,
    ANTHROPIC_AUTH_TOKEN: key,
    ANTHROPIC_MODEL: model,
    ANTHROPIC_DEFAULT_HAIKU_MODEL: model,
    ANTHROPIC_DEFAULT_SONNET_MODEL: model,
    ANTHROPIC_DEFAULT_OPUS_MODEL: model,
  }, { timeoutMs: 60_000, home: rig.home });
}

Deno.test({
  name: "Claude Code on gpt-5: max_completion_tokens, default sampling, no billing block upstream",
  ignore: claude === undefined,
  fn: () =>
    withClientRig({ clientKey: "sk-client-claude-2", upstreamKey: "sk-up-claude" }, async (rig) => {
      const res = await runClaude(rig, "sk-client-claude-2", "gpt-5");
      // The fake refuses max_tokens and a non-default temperature on gpt-5, as OpenAI does.
      const chat = assertAnswered(res, rig.up, "the OpenAI upstream got the request", "gpt-5");
      for (const r of chat) {
        assert.equal(r.body.max_tokens, undefined);
        assert.doesNotMatch(r.rawBody, /x-anthropic-billing-header/);
      }
    }),
});

Deno.test({
  name: "Claude Code on Claude Opus 4.7 (adaptive thinking only) through the gateway",
  ignore: claude === undefined,
  fn: () =>
    withClientRig({ clientKey: "sk-client-claude-3", upstreamKey: "sk-up-claude" }, async (rig) => {
      const res = await runClaude(rig, "sk-client-claude-3", "claude-opus-4-7");
      // The fake refuses `enabled`/`disabled` thinking on this id, as Anthropic does.
      assertCliPrinted(res, "claude-opus-4-7");
      const messages = rig.anthropic.requests.filter((r) => r.path === "/v1/messages");
      assert.ok(messages.length >= 1);
      for (const r of messages) {
        const type = (r.body.thinking as { type?: string } | undefined)?.type;
        assert.ok(type === undefined || type === "adaptive", `thinking ${type}`);
      }
    }),
});
