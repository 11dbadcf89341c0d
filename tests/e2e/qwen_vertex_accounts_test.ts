import assert from "node:assert/strict";
import { startFakeQwen } from "../fakes/qwen_upstream.ts";
import { startFakeVertex } from "../fakes/vertex_upstream.ts";
import {
  anthropicDriver,
  geminiDriver,
  openAIChatDriver,
  openAIResponsesDriver,
} from "./sdk_drivers.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

/** Qwen OAuth accounts and Vertex AI service accounts, seeded and used through the SDKs. */

const ADMIN = "admin-token-qv-tests";
const CLIENT = "sk-client-qv-tests";

async function seed(gw: TestGateway, provider: string, body: unknown): Promise<string> {
  const res = await fetch(`${gw.url}/admin/credentials/${provider}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()).id;
}

async function account(gw: TestGateway, id: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${gw.url}/admin/credentials`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  return (await res.json()).accounts.find((a: { id: string }) => a.id === id);
}

Deno.test("qwen: rotating refresh tokens are kept; Anthropic and Responses clients chat and call tools", async () => {
  const fake = await startFakeQwen();
  const gw = await startTestGateway({
    auth: { api_keys: [CLIENT], admin_token: ADMIN },
    providers: [{
      id: "qwen",
      type: "qwen",
      token_url: fake.tokenUrl,
      models: ["qwen3-coder-plus*"],
    }],
  });
  try {
    const pair = fake.issue();
    // Expired on arrival: the first request refreshes and must store the rotated refresh token.
    const id = await seed(gw, "qwen", {
      ...pair,
      token_type: "Bearer",
      resource_url: fake.resourceUrl,
      expiry_date: Date.now() - 1000,
    });
    const claude = anthropicDriver(gw.url, CLIENT);
    assert.match(await claude.text("qwen3-coder-plus", "hi qwen"), /hi qwen/);
    assert.equal(fake.refreshCount, 1);
    assert.equal(fake.isValidRefreshToken(pair.refresh_token), false, "the old token is spent");
    const before = (await account(gw, id)).secret;

    const { text } = await claude.streamText("qwen3-coder-plus", "stream qwen");
    assert.match(text, /stream qwen/);
    const round = await openAIResponsesDriver(gw.url, CLIENT).toolRoundTrip(
      "qwen3-coder-plus-tools",
      "cloudy",
    );
    assert.equal(round.name, "get_weather");
    assert.match(round.final, /cloudy/);

    // Access tokens revoked upstream: a 401, one refresh, a retry, and the next rotation kept.
    fake.expireAccessTokens();
    assert.match(
      await openAIChatDriver(gw.url, CLIENT).text("qwen3-coder-plus", "after 401"),
      /after 401/,
    );
    assert.equal(fake.refreshCount, 2);
    const after = await account(gw, id);
    assert.notEqual(after.secret, before, "the stored refresh token rotated again");
    assert.equal(after.status, "active");
  } finally {
    await gw.close();
    await fake.close();
  }
});

Deno.test("vertex: a service-account key mints tokens (verified JWT); Gemini and OpenAI clients work", async () => {
  const fake = await startFakeVertex();
  const gw = await startTestGateway({
    auth: { api_keys: [CLIENT], admin_token: ADMIN },
    providers: [{
      id: "vertex",
      type: "vertex",
      base_url: fake.url,
      location: "us-central1",
      models: ["gemini-2.5-pro*"],
    }],
  });
  try {
    const sa = await fake.createServiceAccount({ projectId: "my-proj" });
    const id = await seed(gw, "vertex", sa.keyFile);
    const view = await account(gw, id);
    assert.equal(view.project_id, "my-proj");
    assert.ok(!JSON.stringify(view).includes("PRIVATE KEY"), "the key is never shown");

    const gem = geminiDriver(gw.url, CLIENT);
    assert.match(await gem.text("gemini-2.5-pro", "hello vertex"), /hello vertex/);
    const { text } = await gem.streamText("gemini-2.5-pro", "stream vertex");
    assert.match(text, /stream vertex/);
    const round = await openAIChatDriver(gw.url, CLIENT).toolRoundTrip(
      "gemini-2.5-pro-tools",
      "windy",
    );
    assert.deepEqual(round.args, { city: "Paris" });
    assert.match(round.final, /windy/);
    assert.equal(fake.tokenCalls, 1, "one token minted and reused");
    assert.equal(fake.verified.length, 1);
    assert.ok(
      fake.requests.every((r) => r.path.includes("/projects/my-proj/locations/us-central1/")),
    );

    // A deleted key: the account is marked and the request fails over to nothing → 503.
    fake.revokeKey(sa.keyFile.private_key_id);
    fake.expireAccessTokens();
    const status = await openAIChatDriver(gw.url, CLIENT).errorStatus("gemini-2.5-pro", false);
    assert.equal(status, 503);
    assert.equal((await account(gw, id)).status, "refresh failed");
  } finally {
    await gw.close();
    await fake.close();
  }
});
