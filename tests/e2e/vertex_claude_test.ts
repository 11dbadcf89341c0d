import assert from "node:assert/strict";
import { providerSchema } from "../../src/config/schema.ts";
import { vertexDriver } from "../../src/upstreams/vertex/driver.ts";
import { vertexUpstream } from "../../src/upstreams/vertex/adapter.ts";
import { startFakeVertex } from "../fakes/vertex_upstream.ts";
import {
  anthropicDriver,
  geminiDriver,
  openAIChatDriver,
  openAIResponsesDriver,
} from "./sdk_drivers.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";
import { checkSdkBasics, seedAccount } from "./cloud_accounts.ts";

/** Claude on Vertex AI through the same service accounts and provider as Gemini models. */

const ADMIN = "admin-token-vertex-claude";
const CLIENT = "sk-client-vertex-claude";
const CLAUDE = "claude-sonnet-4-5@20250929";

async function seed(gw: TestGateway, body: unknown): Promise<void> {
  const res = await seedAccount(gw, ADMIN, "vertex", body);
  assert.equal(res.status, 201, await res.text());
}

async function setup(location: string) {
  const fake = await startFakeVertex();
  const gw = await startTestGateway({
    auth: { api_keys: [CLIENT], admin_token: ADMIN },
    providers: [{
      id: "vertex",
      type: "vertex",
      base_url: fake.url,
      token_url: fake.tokenUrl,
      location,
      count_tokens: "upstream",
      models: ["gemini-*", "claude-*"],
    }],
  });
  const a = await fake.createServiceAccount({ projectId: "proj-a", name: "one" });
  const b = await fake.createServiceAccount({ projectId: "proj-b", name: "two" });
  await seed(gw, a.keyFile);
  await seed(gw, b.keyFile);
  return {
    fake,
    gw,
    async close() {
      await gw.close();
      await fake.close();
    },
  };
}

for (const makeDriver of [openAIChatDriver, openAIResponsesDriver, anthropicDriver, geminiDriver]) {
  const name = makeDriver("http://x", CLIENT).name;
  Deno.test(`vertex claude: ${name} SDK — text, stream, tools, image over two accounts`, async () => {
    const fx = await setup("global");
    try {
      const d = makeDriver(fx.gw.url, CLIENT);
      await checkSdkBasics(
        d,
        { text: CLAUDE, weather: `${CLAUDE}-weather` },
        () => JSON.stringify(fx.fake.claudeRequests.at(-1)?.body),
      );
      // The same provider still serves Gemini models on Google's publisher path.
      assert.match(await d.text("gemini-2.5-pro", "gemini too"), /gemini too/);

      const claudePaths = fx.fake.requests.map((q) => q.path).filter((p) =>
        p.includes("/publishers/anthropic/")
      );
      assert.ok(claudePaths.every((p) => /\/locations\/global\//.test(p)), "global location");
      assert.ok(claudePaths.some((p) => p.endsWith(":streamRawPredict")));
      const projects = new Set(claudePaths.map((p) => p.split("/")[3]));
      assert.deepEqual(projects, new Set(["proj-a", "proj-b"]), "both accounts served Claude");
      for (const q of fx.fake.claudeRequests) {
        assert.equal(q.body.anthropic_version, "vertex-2023-10-16");
        assert.equal("model" in q.body, false);
      }
    } finally {
      await fx.close();
    }
  });
}

Deno.test("vertex claude: thinking, count_tokens upstream, token refresh after a 401, quota 429", async () => {
  const fx = await setup("europe-west1");
  try {
    const msg = await fetch(`${fx.gw.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: `${CLAUDE}-thinking`,
        max_tokens: 2048,
        thinking: { type: "enabled", budget_tokens: 1024 },
        messages: [{ role: "user", content: "think" }],
      }),
    });
    assert.equal(msg.status, 200);
    const body = await msg.json();
    assert.equal(body.content[0].type, "thinking");
    assert.ok(body.content[0].signature);
    assert.match(fx.fake.requests.at(-1)!.path, /locations\/europe-west1\/.*:rawPredict$/);

    const count = await fetch(`${fx.gw.url}/v1/messages/count_tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT}`, "content-type": "application/json" },
      body: JSON.stringify({ model: CLAUDE, messages: [{ role: "user", content: "count me" }] }),
    });
    assert.equal(count.status, 200);
    const counted = (await count.json()).input_tokens;
    const sent = fx.fake.requests.at(-1)!;
    assert.match(sent.path, /\/publishers\/anthropic\/models\/count-tokens:rawPredict$/);
    assert.equal(sent.body.model, CLAUDE);
    assert.equal(
      counted,
      Math.ceil(JSON.stringify({ ...sent.body, anthropic_version: undefined }).length / 4),
    );

    const minted = fx.fake.verified.length;
    fx.fake.expireAccessTokens();
    const d = openAIChatDriver(fx.gw.url, CLIENT);
    assert.match(await d.text(CLAUDE, "after expiry"), /after expiry/);
    assert.ok(fx.fake.verified.length > minted, "a 401 minted a new token");

    assert.equal(await d.errorStatus(`${CLAUDE}-429`, false), 429);
  } finally {
    await fx.close();
  }
});

Deno.test("vertex claude: an Anthropic body is forwarded with only the model and version moved", async () => {
  const fake = await startFakeVertex();
  // A field the gateway does not know but this (newer) upstream does.
  fake.claudeExtraParams.add("future_field");
  try {
    const sa = await fake.createServiceAccount({ projectId: "proj-n" });
    const provider = providerSchema.parse({
      id: "vertex",
      type: "vertex",
      base_url: fake.url,
      token_url: fake.tokenUrl,
    });
    const signal = AbortSignal.timeout(10_000);
    const { access_token } = await vertexDriver.refresh(
      vertexDriver.parseCredential(sa.keyFile),
      { provider, signal },
    );
    assert.equal(vertexUpstream.nativeFormatFor?.(CLAUDE), "anthropic");
    assert.equal(vertexUpstream.nativeFormatFor?.("gemini-2.5-pro"), "gemini");
    const json = {
      model: CLAUDE,
      max_tokens: 64,
      stream: true,
      future_field: { kept: true },
      messages: [{ role: "user", content: "native" }],
    };
    const res = await vertexUpstream.forwardNative!({
      raw: new TextEncoder().encode(JSON.stringify(json)),
      json,
      stream: true,
      hints: {},
    }, {
      provider,
      model: CLAUDE,
      account: { id: "a", accessToken: access_token, projectId: "proj-n" },
      signal,
      clientHeaders: new Headers({ "anthropic-beta": "fine-grained-tool-streaming-2025-05-14" }),
    });
    assert.equal(res.status, 200);
    const sse = await res.text();
    assert.match(sse, /^event: message_start/);
    assert.match(sse, /native/);
    const sent = fake.claudeRequests.at(-1)!;
    assert.equal(sent.stream, true);
    assert.deepEqual(sent.body.future_field, { kept: true });
    assert.equal(sent.body.stream, true);
    assert.equal(
      fake.requests.at(-1)!.headers.get("anthropic-beta"),
      "fine-grained-tool-streaming-2025-05-14",
    );
  } finally {
    await fake.close();
  }
});
