import assert from "node:assert/strict";
import { assertAnswered, cliPath, runCli, withClientRig } from "./clients_cli.ts";

const claude = cliPath("claude");

Deno.test({
  name: "Claude Code (claude -p) through the gateway to an OpenAI upstream",
  ignore: claude === undefined,
  fn: () =>
    withClientRig({ clientKey: "sk-client-claude-1", upstreamKey: "sk-up-claude" }, async (rig) => {
      const res = await runCli(claude as string, ["-p", "say hello", "--output-format", "text"], {
        ANTHROPIC_BASE_URL: rig.gatewayUrl,
        ANTHROPIC_AUTH_TOKEN: "sk-client-claude-1",
        ANTHROPIC_MODEL: "fake-gpt",
        ANTHROPIC_DEFAULT_HAIKU_MODEL: "fake-gpt",
        ANTHROPIC_DEFAULT_SONNET_MODEL: "fake-gpt",
        ANTHROPIC_DEFAULT_OPUS_MODEL: "fake-gpt",
      }, { timeoutMs: 60_000, home: rig.home });
      const chat = assertAnswered(res, rig.up, "the OpenAI upstream got the converted request");
      assert.equal(chat[0].headers.get("authorization"), "Bearer sk-up-claude");
    }),
});
