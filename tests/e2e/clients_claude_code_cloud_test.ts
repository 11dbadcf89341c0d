import assert from "node:assert/strict";
import { fakeAwsKey, startFakeBedrock } from "../fakes/bedrock_runtime.ts";
import { startFakeVertex } from "../fakes/vertex_upstream.ts";
import { cliPath, runCli } from "./clients_cli.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";
import { seedAccount } from "./cloud_accounts.ts";

/** The real Claude Code CLI through the gateway to Claude on Amazon Bedrock and on Vertex AI. */

const claude = cliPath("claude");
const ADMIN = "admin-token-cc-cloud";
const CLIENT = "sk-client-cc-cloud";

async function seed(gw: TestGateway, provider: string, body: unknown): Promise<void> {
  const res = await seedAccount(gw, ADMIN, provider, body);
  assert.equal(res.status, 201, await res.text());
}

async function runClaude(gw: TestGateway, model: string): Promise<string> {
  const home = await Deno.makeTempDir();
  try {
    const res = await runCli(claude as string, ["-p", "say hello", "--output-format", "text"], {
      ANTHROPIC_BASE_URL: gw.url,
      ANTHROPIC_AUTH_TOKEN: CLIENT,
      ANTHROPIC_MODEL: model,
      ANTHROPIC_DEFAULT_HAIKU_MODEL: model,
      ANTHROPIC_DEFAULT_SONNET_MODEL: model,
      ANTHROPIC_DEFAULT_OPUS_MODEL: model,
    }, { timeoutMs: 60_000, home });
    const all = `code=${res.code} timedOut=${res.timedOut}\n${res.stdout}\n${res.stderr}`;
    assert.equal(res.timedOut, false, all);
    assert.equal(res.code, 0, all);
    return res.stdout;
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test({
  name: "Claude Code (claude -p) through the gateway to Claude on Amazon Bedrock",
  ignore: claude === undefined,
  fn: async () => {
    const key = fakeAwsKey(11);
    const fake = await startFakeBedrock({ keys: [key] });
    const gw = await startTestGateway({
      auth: { api_keys: [CLIENT], admin_token: ADMIN },
      providers: [{ id: "bedrock", type: "bedrock", base_url: fake.url, models: [] }],
      models: {
        "claude-bedrock": {
          routes: [{ provider: "bedrock", model: "us.anthropic.claude-sonnet-4-5-v1:0" }],
        },
      },
    });
    try {
      await seed(gw, "bedrock", {
        access_key_id: key.accessKeyId,
        secret_access_key: key.secretAccessKey,
      });
      const out = await runClaude(gw, "claude-bedrock");
      assert.match(out, /Hello from us\.anthropic\.claude-sonnet-4-5-v1:0/);
      assert.ok(fake.requests.length >= 1);
      assert.equal(fake.refused.length, 0, "every request correctly signed");
      assert.ok(fake.requests.every((q) => q.body.anthropic_version === "bedrock-2023-05-31"));
    } finally {
      await gw.close();
      await fake.close();
    }
  },
});

Deno.test({
  name: "Claude Code (claude -p) through the gateway to Claude on Vertex AI",
  ignore: claude === undefined,
  fn: async () => {
    const fake = await startFakeVertex();
    const gw = await startTestGateway({
      auth: { api_keys: [CLIENT], admin_token: ADMIN },
      providers: [{
        id: "vertex",
        type: "vertex",
        base_url: fake.url,
        token_url: fake.tokenUrl,
        location: "global",
        models: ["claude-*"],
      }],
    });
    try {
      const sa = await fake.createServiceAccount({ projectId: "cc-proj" });
      await seed(gw, "vertex", sa.keyFile);
      const out = await runClaude(gw, "claude-sonnet-4-5@20250929");
      assert.match(out, /Hello from claude-sonnet-4-5@20250929/);
      assert.ok(fake.claudeRequests.length >= 1);
      assert.ok(
        fake.claudeRequests.every((q) => q.body.anthropic_version === "vertex-2023-10-16"),
      );
    } finally {
      await gw.close();
      await fake.close();
    }
  },
});
