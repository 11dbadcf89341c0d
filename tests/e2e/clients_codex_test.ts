import { assertAnswered, cliPath, runCli, withClientRig } from "./clients_cli.ts";

const codex = cliPath("codex");

Deno.test({
  name:
    "Codex (codex exec, custom provider on /v1/responses) through the gateway to Chat Completions",
  ignore: codex === undefined,
  fn: () =>
    withClientRig({ clientKey: "sk-client-codex-1", upstreamKey: "sk-up-codex" }, async (rig) => {
      await Deno.mkdir(`${rig.home}/.codex`);
      const res = await runCli(codex as string, [
        "exec",
        "--skip-git-repo-check",
        "--color",
        "never",
        "-c",
        'model_provider="llmproxy"',
        "-c",
        `model_providers.llmproxy={ name = "llm-proxy", base_url = "${rig.gatewayUrl}/v1", env_key = "LLM_PROXY_KEY", wire_api = "responses" }`,
        "-m",
        "fake-gpt",
        "say hello",
      ], {
        LLM_PROXY_KEY: "sk-client-codex-1",
        CODEX_HOME: `${rig.home}/.codex`,
      }, { timeoutMs: 60_000, home: rig.home });
      assertAnswered(res, rig.up, "the Responses request reached the upstream as Chat Completions");
    }),
});
