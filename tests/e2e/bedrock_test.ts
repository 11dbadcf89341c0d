import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { fakeAwsKey, startFakeBedrock } from "../fakes/bedrock_runtime.ts";
import {
  anthropicDriver,
  geminiDriver,
  openAIChatDriver,
  openAIResponsesDriver,
} from "./sdk_drivers.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";
import { checkSdkBasics, listAccounts, seedAccount } from "./cloud_accounts.ts";

/**
 * Amazon Bedrock (Claude) through every client SDK: SigV4-signed with two stored AWS accounts
 * that rotate, binary event-stream answers, throttling that benches, a revoked key.
 */

const ADMIN = "admin-token-bedrock-tests";
const CLIENT = "sk-client-bedrock-tests";
const MODEL = "anthropic.claude-fake-v1:0";

async function seed(gw: TestGateway, body: unknown): Promise<string> {
  const res = await seedAccount(gw, ADMIN, "bedrock", body);
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()).id;
}

const accounts = (gw: TestGateway) => listAccounts(gw, ADMIN);

async function setup(region = "eu-west-3") {
  const k1 = fakeAwsKey(1);
  const k2 = fakeAwsKey(2, "FwoGZXIvYXdzEFAKESESSIONTOKEN0002");
  const fake = await startFakeBedrock({ keys: [k1, k2], region });
  const gw = await startTestGateway({
    auth: { api_keys: [CLIENT], admin_token: ADMIN },
    providers: [{
      id: "bedrock",
      type: "bedrock",
      region,
      base_url: fake.url,
      models: ["anthropic.claude-*"],
    }],
    // Bedrock's ids have a `:` the Gemini route cannot carry in its path: aliases name them.
    models: {
      "claude-bedrock": { routes: [{ provider: "bedrock", model: MODEL }] },
      "claude-bedrock-weather": { routes: [{ provider: "bedrock", model: `${MODEL}-weather` }] },
    },
  });
  const id1 = await seed(gw, {
    access_key_id: k1.accessKeyId,
    secret_access_key: k1.secretAccessKey,
    label: "first",
  });
  // The AWS CLI's own shape (`aws sts get-session-token`) is accepted as it is.
  const id2 = await seed(gw, {
    Credentials: {
      AccessKeyId: k2.accessKeyId,
      SecretAccessKey: k2.secretAccessKey,
      SessionToken: k2.sessionToken,
    },
  });
  return {
    fake,
    gw,
    k1,
    k2,
    id1,
    id2,
    async close() {
      await gw.close();
      await fake.close();
    },
  };
}

for (const makeDriver of [openAIChatDriver, openAIResponsesDriver, anthropicDriver, geminiDriver]) {
  const name = makeDriver("http://x", CLIENT).name;
  Deno.test(`bedrock: ${name} SDK — text, stream, tools, image; requests signed by both accounts`, async () => {
    const fx = await setup();
    try {
      await checkSdkBasics(
        makeDriver(fx.gw.url, CLIENT),
        { text: "claude-bedrock", weather: "claude-bedrock-weather" },
        () => JSON.stringify(fx.fake.requests.at(-1)?.body),
      );

      const used = new Set(fx.fake.requests.map((q) => q.accessKeyId));
      assert.deepEqual(used, new Set([fx.k1.accessKeyId, fx.k2.accessKeyId]), "rotated");
      assert.equal(fx.fake.refused.length, 0, "every signature verified");
      for (const q of fx.fake.requests) {
        assert.equal(q.body.anthropic_version, "bedrock-2023-05-31");
        assert.equal(q.modelId.startsWith(MODEL), true);
      }
      assert.ok(fx.fake.requests.some((q) => q.stream), "streams use invoke-with-response-stream");
    } finally {
      await fx.close();
    }
  });
}

Deno.test("bedrock: Anthropic clients are forwarded natively (unknown fields, betas, thinking), by alias too", async () => {
  const fx = await setup("us-east-1");
  // A field the gateway does not know but this (newer) upstream does.
  fx.fake.extraParams.add("future_field");
  try {
    const res = await fetch(`${fx.gw.url}/v1/messages`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${CLIENT}`,
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "interleaved-thinking-2025-05-14",
      },
      body: JSON.stringify({
        model: `${MODEL}-thinking`,
        max_tokens: 2048,
        thinking: { type: "enabled", budget_tokens: 1024 },
        future_field: { kept: true },
        messages: [{ role: "user", content: "think" }],
      }),
    });
    assert.equal(res.status, 200);
    const msg = await res.json();
    assert.equal(msg.content[0].type, "thinking");
    assert.ok(msg.content[0].signature);
    const sent = fx.fake.requests.at(-1)!.body;
    assert.deepEqual(sent.future_field, { kept: true });
    assert.deepEqual(sent.anthropic_beta, ["interleaved-thinking-2025-05-14"]);
    assert.equal("model" in sent, false);

    // The SDK streams thinking through the alias; the event stream becomes Anthropic SSE.
    const client = new Anthropic({ apiKey: CLIENT, baseURL: fx.gw.url, maxRetries: 0 });
    const stream = client.messages.stream({
      model: "claude-bedrock",
      max_tokens: 64,
      messages: [{ role: "user", content: "via alias" }],
    });
    const final = await stream.finalMessage();
    assert.match(final.content.map((b) => b.type === "text" ? b.text : "").join(""), /via alias/);
    assert.equal(fx.fake.requests.at(-1)!.modelId, MODEL);

    // OpenAI clients get Claude's thinking as reasoning_content.
    const chat = await fetch(`${fx.gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: `${MODEL}-thinking`,
        reasoning_effort: "low",
        messages: [{ role: "user", content: "think" }],
      }),
    });
    assert.equal(chat.status, 200);
    const answer = await chat.json();
    assert.ok(answer.choices[0].message.reasoning_content.length > 0);
  } finally {
    await fx.close();
  }
});

Deno.test("bedrock: a throttling exception mid-stream ends each client's stream with a well-formed error", async () => {
  const fx = await setup();
  try {
    const native = await fetch(`${fx.gw.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: `${MODEL}-throttle-midstream`,
        max_tokens: 64,
        stream: true,
        messages: [{ role: "user", content: "a long answer please" }],
      }),
    });
    const sse = await native.text();
    assert.match(sse, /event: message_start/);
    assert.match(
      sse,
      /event: error\ndata: .*"rate_limit_error".*throttlingException/,
    );
    assert.ok(sse.trimEnd().endsWith("}"), "ends on a complete event");

    const chat = await fetch(`${fx.gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: `${MODEL}-throttle-midstream`,
        stream: true,
        messages: [{ role: "user", content: "a long answer please" }],
      }),
    });
    const text = await chat.text();
    assert.match(text, /"error":\{.*throttlingException/);
  } finally {
    await fx.close();
  }
});

Deno.test("bedrock: ThrottlingException and quota errors answer 429 and bench the accounts", async () => {
  const fx = await setup();
  try {
    for (const d of [anthropicDriver(fx.gw.url, CLIENT), openAIChatDriver(fx.gw.url, CLIENT)]) {
      assert.equal(await d.errorStatus(`${MODEL}-throttle`, false), 429);
    }
    const benched = (await accounts(fx.gw)).map((a) => a.bench_reason);
    assert.deepEqual(benched, ["rate_limit", "rate_limit"]);
  } finally {
    await fx.close();
  }
  const quota = await setup();
  try {
    assert.equal(
      await openAIChatDriver(quota.gw.url, CLIENT).errorStatus(`${MODEL}-quota`, true),
      429,
    );
  } finally {
    await quota.close();
  }
});

Deno.test("bedrock: a revoked access key marks its account failed and keeps it; the other serves", async () => {
  const fx = await setup();
  try {
    // The refresh cron has nothing to do for static keys and leaves them active.
    const job = await fetch(`${fx.gw.url}/admin/refresh`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const results = (await job.json()).results as { result: string; detail: string }[];
    assert.deepEqual(results.map((r) => `${r.result}: ${r.detail}`), [
      "skipped: static keys",
      "skipped: static keys",
    ]);
    fx.fake.revoke(fx.k1.accessKeyId);
    const d = openAIChatDriver(fx.gw.url, CLIENT);
    for (let i = 0; i < 4; i++) {
      assert.match(await d.text(MODEL, `after revoke ${i}`), /after revoke/);
    }
    const list = await accounts(fx.gw);
    const first = list.find((a) => a.id === fx.id1)!;
    assert.equal(first.status, "refresh failed");
    assert.match(String(first.last_error), /refused the key/);
    assert.equal(list.find((a) => a.id === fx.id2)!.status, "active");
    assert.equal(fx.fake.refused.filter((r) => r.accessKeyId === fx.k1.accessKeyId).length, 1);
    // Secrets never show: the listing masks the key id and never has the secret.
    const listing = JSON.stringify(list);
    assert.equal(listing.includes(fx.k2.secretAccessKey), false);
    assert.equal(listing.includes(fx.k2.accessKeyId), false);
  } finally {
    await fx.close();
  }
});
