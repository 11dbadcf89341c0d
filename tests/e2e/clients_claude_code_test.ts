import assert from "node:assert/strict";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { cliPath, runCli } from "./clients_cli.ts";
import { startTestGateway } from "./start_gateway.ts";

const claude = cliPath("claude");

Deno.test({
  name: "Claude Code (claude -p) through the gateway to an OpenAI upstream",
  ignore: claude === undefined,
  fn: async () => {
    const up = await startFakeOpenAI();
    const gw = await startTestGateway({
      auth: { api_keys: ["sk-client-claude-1"] },
      providers: [{
        id: "oa",
        type: "openai",
        base_url: `${up.url}/v1`,
        api_keys: ["sk-up-claude"],
        models: ["fake-gpt"],
      }],
    });
    const home = await Deno.makeTempDir();
    try {
      const res = await runCli(claude as string, ["-p", "say hello", "--output-format", "text"], {
        ANTHROPIC_BASE_URL: gw.url,
        ANTHROPIC_AUTH_TOKEN: "sk-client-claude-1",
        ANTHROPIC_MODEL: "fake-gpt",
        ANTHROPIC_DEFAULT_HAIKU_MODEL: "fake-gpt",
        ANTHROPIC_DEFAULT_SONNET_MODEL: "fake-gpt",
        ANTHROPIC_DEFAULT_OPUS_MODEL: "fake-gpt",
      }, { timeoutMs: 60_000, home });
      const all = `code=${res.code} timedOut=${res.timedOut}\n${res.stdout}\n${res.stderr}`;
      assert.equal(res.timedOut, false, all);
      assert.equal(res.code, 0, all);
      assert.match(res.stdout, /Hello from fake-gpt/, all);
      const chat = up.requests.filter((r) => r.path === "/v1/chat/completions");
      assert.ok(chat.length >= 1, "the OpenAI upstream got the converted request");
      assert.equal(chat[0].headers.get("authorization"), "Bearer sk-up-claude");
    } finally {
      await gw.close();
      await up.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
