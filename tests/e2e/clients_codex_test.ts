import assert from "node:assert/strict";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { cliPath, runCli } from "./clients_cli.ts";
import { startTestGateway } from "./start_gateway.ts";

const codex = cliPath("codex");

Deno.test({
  name:
    "Codex (codex exec, custom provider on /v1/responses) through the gateway to Chat Completions",
  ignore: codex === undefined,
  fn: async () => {
    const up = await startFakeOpenAI();
    const gw = await startTestGateway({
      auth: { api_keys: ["sk-client-codex-1"] },
      providers: [{
        id: "oa",
        type: "openai",
        base_url: `${up.url}/v1`,
        api_keys: ["sk-up-codex"],
        models: ["fake-gpt"],
      }],
    });
    const home = await Deno.makeTempDir();
    await Deno.mkdir(`${home}/.codex`);
    try {
      const res = await runCli(codex as string, [
        "exec",
        "--skip-git-repo-check",
        "--color",
        "never",
        "-c",
        'model_provider="llmproxy"',
        "-c",
        `model_providers.llmproxy={ name = "llm-proxy", base_url = "${gw.url}/v1", env_key = "LLM_PROXY_KEY", wire_api = "responses" }`,
        "-m",
        "fake-gpt",
        "say hello",
      ], {
        LLM_PROXY_KEY: "sk-client-codex-1",
        CODEX_HOME: `${home}/.codex`,
      }, { timeoutMs: 60_000, home });
      const all = `code=${res.code} timedOut=${res.timedOut}\n${res.stdout}\n${res.stderr}`;
      assert.equal(res.timedOut, false, all);
      assert.equal(res.code, 0, all);
      assert.match(res.stdout, /Hello from fake-gpt/, all);
      const chat = up.requests.filter((r) => r.path === "/v1/chat/completions");
      assert.ok(chat.length >= 1, "the Responses request reached the upstream as Chat Completions");
    } finally {
      await gw.close();
      await up.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
