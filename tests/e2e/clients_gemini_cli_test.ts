import { assertAnswered, cliPath, runCli, withClientRig } from "./clients_cli.ts";

const gemini = cliPath("gemini");

Deno.test({
  name: "Gemini CLI (gemini -p, API key) through the gateway to an OpenAI upstream",
  ignore: gemini === undefined,
  fn: () =>
    withClientRig({ clientKey: "sk-client-gemini-1", upstreamKey: "sk-up-gemini" }, async (rig) => {
      // Telemetry, usage statistics and update checks off: nothing may wait on the internet.
      await Deno.mkdir(`${rig.home}/.gemini`);
      await Deno.writeTextFile(
        `${rig.home}/.gemini/settings.json`,
        JSON.stringify({
          telemetry: { enabled: false },
          privacy: { usageStatisticsEnabled: false },
          general: { disableAutoUpdate: true, disableUpdateNag: true },
          security: { auth: { selectedType: "gemini-api-key" } },
        }),
      );
      const res = await runCli(gemini as string, ["-m", "fake-gpt", "-p", "say hello"], {
        GEMINI_API_KEY: "sk-client-gemini-1",
        GOOGLE_GEMINI_BASE_URL: rig.gatewayUrl,
        GEMINI_CLI_TRUST_WORKSPACE: "true",
      }, { timeoutMs: 60_000, home: rig.home });
      assertAnswered(res, rig.up, "the Gemini request reached the upstream as Chat Completions");
    }),
});
