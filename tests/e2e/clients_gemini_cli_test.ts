import assert from "node:assert/strict";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { cliPath, runCli } from "./clients_cli.ts";
import { startTestGateway } from "./start_gateway.ts";

const gemini = cliPath("gemini");

Deno.test({
  name: "Gemini CLI (gemini -p, API key) through the gateway to an OpenAI upstream",
  ignore: gemini === undefined,
  fn: async () => {
    const up = await startFakeOpenAI();
    const gw = await startTestGateway({
      auth: { api_keys: ["sk-client-gemini-1"] },
      providers: [{
        id: "oa",
        type: "openai",
        base_url: `${up.url}/v1`,
        api_keys: ["sk-up-gemini"],
        models: ["fake-gpt"],
      }],
    });
    const home = await Deno.makeTempDir();
    // Telemetry, usage statistics and update checks off: nothing may wait on the internet.
    await Deno.mkdir(`${home}/.gemini`);
    await Deno.writeTextFile(
      `${home}/.gemini/settings.json`,
      JSON.stringify({
        telemetry: { enabled: false },
        privacy: { usageStatisticsEnabled: false },
        general: { disableAutoUpdate: true, disableUpdateNag: true },
        security: { auth: { selectedType: "gemini-api-key" } },
      }),
    );
    try {
      const res = await runCli(gemini as string, ["-m", "fake-gpt", "-p", "say hello"], {
        GEMINI_API_KEY: "sk-client-gemini-1",
        GOOGLE_GEMINI_BASE_URL: gw.url,
        GEMINI_CLI_TRUST_WORKSPACE: "true",
      }, { timeoutMs: 60_000, home });
      const all = `code=${res.code} timedOut=${res.timedOut}\n${res.stdout}\n${res.stderr}`;
      assert.equal(res.timedOut, false, all);
      assert.equal(res.code, 0, all);
      assert.match(res.stdout, /Hello from fake-gpt/, all);
      const chat = up.requests.filter((r) => r.path === "/v1/chat/completions");
      assert.ok(chat.length >= 1, "the Gemini request reached the upstream as Chat Completions");
    } finally {
      await gw.close();
      await up.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
