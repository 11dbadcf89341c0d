import assert from "node:assert/strict";
import { startFakeAzure } from "../fakes/azure_openai.ts";
import {
  anthropicDriver,
  geminiDriver,
  openAIChatDriver,
  openAIResponsesDriver,
} from "./sdk_drivers.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";
import { checkSdkBasics, listAccounts, seedAccount } from "./cloud_accounts.ts";

/** Azure OpenAI with API keys (`api-key`) and with Entra ID app registrations (bearer tokens). */

const ADMIN = "admin-token-azure-tests";
const CLIENT = "sk-client-azure-tests";
const DEPLOYMENTS = { "gpt-4o": "gpt-4o-prod", "gpt-4o-weather": "gpt-4o-prod-weather" };

const seed = (gw: TestGateway, body: unknown) => seedAccount(gw, ADMIN, "azure", body);
const accounts = (gw: TestGateway) => listAccounts(gw, ADMIN);

async function setup(extra: Record<string, unknown>, apiKeys: string[] = []) {
  const fake = await startFakeAzure({
    apiKeys: ["azure-key-0001", "azure-key-0002"],
    deployments: Object.values(DEPLOYMENTS),
  });
  const gw = await startTestGateway({
    auth: { api_keys: [CLIENT], admin_token: ADMIN },
    providers: [{
      id: "azure",
      type: "azure-openai",
      base_url: fake.url,
      token_url: fake.tokenUrl,
      api_keys: apiKeys,
      deployments: DEPLOYMENTS,
      models: ["gpt-4o*"],
      ...extra,
    }],
  });
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
  Deno.test(`azure: ${name} SDK through Entra ID accounts (v1 routes) — text, stream, tools, image`, async () => {
    const fx = await setup({});
    try {
      for (let i = 0; i < 2; i++) {
        assert.equal((await seed(fx.gw, fx.fake.createApp())).status, 201);
      }
      await checkSdkBasics(
        makeDriver(fx.gw.url, CLIENT),
        { text: "gpt-4o", weather: "gpt-4o-weather" },
        () => JSON.stringify(fx.fake.requests.at(-1)?.body),
      );

      // Responses clients are forwarded to the Responses route; the rest converted to Chat.
      const route = name === "openai-responses"
        ? "/openai/v1/responses"
        : "/openai/v1/chat/completions";
      assert.ok(fx.fake.requests.every((q) => q.path === route), route);
      assert.ok(fx.fake.requests.every((q) => q.auth === "bearer"));
      assert.deepEqual(
        new Set(fx.fake.requests.map((q) => q.body.model)),
        new Set(["gpt-4o-prod", "gpt-4o-prod-weather"]),
        "deployment names as the body's model",
      );
      assert.equal(new Set(fx.fake.requests.map((q) => q.clientId)).size, 2, "both accounts used");
      assert.equal(fx.fake.tokenCalls, 2, "one token per account, reused");
    } finally {
      await fx.close();
    }
  });
}

Deno.test("azure: api_keys in the api-key header on the classic api-version routes, rotated", async () => {
  const fx = await setup({ api_version: "2024-10-21" }, ["azure-key-0001", "azure-key-0002"]);
  try {
    const d = openAIChatDriver(fx.gw.url, CLIENT);
    for (let i = 0; i < 4; i++) assert.match(await d.text("gpt-4o", `key ${i}`), /key/);
    const responses = openAIResponsesDriver(fx.gw.url, CLIENT);
    assert.match(await responses.text("gpt-4o", "via responses"), /Hello from gpt-4o-prod/);
    assert.ok(fx.fake.requests.every((q) => q.auth === "api-key"));
    assert.deepEqual(
      [...new Set(fx.fake.requests.map((q) => `${q.path}${q.search}`))],
      [
        "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21",
        "/openai/responses?api-version=2024-10-21",
      ],
    );
    assert.equal(fx.fake.tokenCalls, 0);
  } finally {
    await fx.close();
  }
});

Deno.test("azure: Entra tokens refresh after a 401; a revoked secret marks the account failed and keeps it", async () => {
  const fx = await setup({});
  try {
    const app1 = fx.fake.createApp();
    const app2 = fx.fake.createApp();
    const id1 = (await (await seed(fx.gw, app1)).json()).id;
    // `az ad sp create-for-rbac` output is accepted as it is.
    const id2 = (await (await seed(fx.gw, {
      appId: app2.client_id,
      password: app2.client_secret,
      tenant: app2.tenant_id,
      displayName: "llm-proxy",
    })).json()).id;
    const bad = await seed(fx.gw, { tenant_id: fx.fake.tenantId, client_id: "x" });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /client_secret/);

    const d = openAIChatDriver(fx.gw.url, CLIENT);
    assert.match(await d.text("gpt-4o", "first"), /first/);
    assert.match(await d.text("gpt-4o", "second"), /second/);
    const calls = fx.fake.tokenCalls;
    fx.fake.expireTokens();
    assert.match(await d.text("gpt-4o", "after expiry"), /after expiry/);
    assert.equal(fx.fake.tokenCalls, calls + 1, "the 401 refreshed that account's token once");
    // The refresh cron mints new tokens for both (one-hour tokens are always due).
    const job = await fetch(`${fx.gw.url}/admin/refresh`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const results = (await job.json()).results as { result: string }[];
    assert.deepEqual(results.map((r) => r.result), ["refreshed", "refreshed"]);
    assert.equal(fx.fake.tokenCalls, calls + 3);

    fx.fake.revokeSecret(app1.client_id);
    for (let i = 0; i < 3; i++) assert.match(await d.text("gpt-4o", `still ${i}`), /still/);
    const list = await accounts(fx.gw);
    const first = list.find((a) => a.id === id1)!;
    assert.equal(first.status, "refresh failed");
    assert.match(String(first.last_error), /invalid_client|AADSTS7000215/);
    assert.equal(list.find((a) => a.id === id2)!.status, "active");
    assert.equal(JSON.stringify(list).includes(app2.client_secret), false, "secrets masked");
    assert.equal(first.kind, "entra_client");
  } finally {
    await fx.close();
  }
});
