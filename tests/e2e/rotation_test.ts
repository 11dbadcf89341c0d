import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startTestGateway } from "./start_gateway.ts";

/** Rotation, cooldowns, retries, priorities, fallbacks and weights, against fake upstreams. */

function chat(url: string): OpenAI {
  return new OpenAI({ apiKey: "x", baseURL: `${url}/v1`, maxRetries: 0 });
}

const ask = (client: OpenAI, model: string) =>
  client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] });

function deadUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `http://127.0.0.1:${port}/v1`;
}

Deno.test("a rate-limited key cools down for its Retry-After while the others serve, then returns", async () => {
  const up = await startFakeOpenAI();
  const gw = await startTestGateway({
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${up.url}/v1`,
      api_keys: ["sk-up-a-ok", "sk-up-b-limited", "sk-up-c-ok"],
      models: ["fake-gpt"],
    }],
  });
  try {
    const client = chat(gw.url);
    for (let i = 0; i < 6; i++) await ask(client, "fake-gpt");
    const limitedHits = () =>
      up.requests.filter((r) => r.headers.get("authorization")?.includes("limited")).length;
    assert.equal(limitedHits(), 1, "the limited key was tried once, then skipped");
    assert.equal(up.requests.length, 7, "six answers, one retried attempt");
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 3; i++) await ask(client, "fake-gpt");
    assert.equal(limitedHits(), 2, "after its Retry-After the key is tried again");
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("insufficient_quota in a 400 body is detected by pattern and retried on another key", async () => {
  const up = await startFakeOpenAI();
  const gw = await startTestGateway({
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${up.url}/v1`,
      api_keys: ["sk-up-quota-1", "sk-up-fine-2"],
      models: ["fake-gpt"],
      strategy: "fill-first",
    }],
  });
  try {
    const res = await ask(chat(gw.url), "fake-gpt");
    assert.match(res.choices[0].message.content ?? "", /Hello/);
    assert.equal(up.requests.length, 2);
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("a 400 that is the request's fault is not retried", async () => {
  const up = await startFakeOpenAI();
  const gw = await startTestGateway({
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${up.url}/v1`,
      api_keys: ["sk-up-1", "sk-up-2", "sk-up-3"],
      models: ["fake-gpt-400"],
    }],
  });
  try {
    await assert.rejects(ask(chat(gw.url), "fake-gpt-400"), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      return true;
    });
    assert.equal(up.requests.length, 1);
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("max_retries bounds the attempts", async () => {
  const up = await startFakeOpenAI();
  const gw = await startTestGateway({
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${up.url}/v1`,
      api_keys: ["sk-up-1", "sk-up-2", "sk-up-3", "sk-up-4", "sk-up-5"],
      models: ["fake-gpt-500"],
    }],
    fallback: { max_retries: 2, cooldown_seconds: 0 },
  });
  try {
    await assert.rejects(ask(chat(gw.url), "fake-gpt-500"), (err: unknown) => {
      assert.ok(err instanceof OpenAI.APIError);
      assert.equal(err.status, 502);
      return true;
    });
    assert.equal(up.requests.length, 3, "one attempt plus two retries");
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("priority 1 down → priority 2 serves; an alias whose routes are down → its fallback alias serves", async () => {
  const up = await startFakeOpenAI();
  const dead = deadUrl();
  const gw = await startTestGateway({
    providers: [
      { id: "down", type: "openai", base_url: dead, api_keys: ["sk-up-d"], models: ["x"] },
      {
        id: "live",
        type: "openai",
        base_url: `${up.url}/v1`,
        api_keys: ["sk-up-l"],
        models: ["y"],
      },
    ],
    models: {
      smart: {
        routes: [
          { provider: "down", model: "fake-gpt", priority: 1 },
          { provider: "live", model: "fake-gpt", priority: 2 },
        ],
      },
      broken: { routes: [{ provider: "down", model: "fake-gpt" }] },
      backup: { routes: [{ provider: "live", model: "fake-gpt" }] },
    },
    fallback: { alias_fallback: { broken: ["backup"] } },
  });
  try {
    const client = chat(gw.url);
    assert.match((await ask(client, "smart")).choices[0].message.content ?? "", /Hello/);
    assert.match((await ask(client, "broken")).choices[0].message.content ?? "", /Hello/);
    assert.equal(up.requests.length, 2);
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("same-priority weights spread 1,000 requests within ±10 %", async () => {
  const gw = await startTestGateway({
    providers: [
      { id: "e1", type: "echo", models: ["m-one"] },
      { id: "e2", type: "echo", models: ["m-two"] },
    ],
    models: {
      spread: {
        routes: [
          { provider: "e1", model: "m-one", weight: 1 },
          { provider: "e2", model: "m-two", weight: 3 },
        ],
      },
    },
  });
  try {
    const counts = new Map<string, number>();
    const body = JSON.stringify({ model: "spread", messages: [{ role: "user", content: "x" }] });
    for (let i = 0; i < 1000; i++) {
      const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", body });
      const model = (await res.json()).model as string;
      counts.set(model, (counts.get(model) ?? 0) + 1);
    }
    const one = counts.get("m-one") ?? 0;
    const two = counts.get("m-two") ?? 0;
    assert.equal(one + two, 1000);
    assert.ok(Math.abs(one - 250) <= 25, `m-one served ${one} (expected 250 ± 25)`);
    // Smooth weighted round-robin is exact over whole cycles.
    assert.equal(one, 250);
    assert.ok(Math.abs(two - 750) <= 75, `m-two served ${two} (expected 750 ± 75)`);
  } finally {
    await gw.close();
  }
});

Deno.test("all keys rate-limited → 429 with Retry-After, in each client's own format", async () => {
  const up = await startFakeOpenAI();
  const gw = await startTestGateway({
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${up.url}/v1`,
      api_keys: ["sk-up-1-limited", "sk-up-2-limited"],
      models: ["fake-gpt"],
    }],
  });
  try {
    // OpenAI Chat (this call trips both keys) and Responses.
    for (
      const call of [
        () => ask(chat(gw.url), "fake-gpt"),
        () => chat(gw.url).responses.create({ model: "fake-gpt", input: "x", store: false }),
      ]
    ) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof OpenAI.RateLimitError);
        assert.ok(Number(err.headers?.get("retry-after")) >= 1);
        return true;
      });
    }
    await assert.rejects(
      new Anthropic({ apiKey: "x", baseURL: gw.url, maxRetries: 0 }).messages.create({
        model: "fake-gpt",
        max_tokens: 10,
        messages: [{ role: "user", content: "x" }],
      }),
      (err: unknown) => {
        assert.ok(err instanceof Anthropic.RateLimitError);
        assert.equal((err.error as { error?: { type?: string } }).error?.type, "rate_limit_error");
        return true;
      },
    );
    const res = await fetch(`${gw.url}/v1beta/models/fake-gpt:generateContent`, {
      method: "POST",
      body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "x" }] }] }),
    });
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get("retry-after")) >= 1);
    assert.equal((await res.json()).error.status, "RESOURCE_EXHAUSTED");
    const ai = new GoogleGenAI({ apiKey: "x", httpOptions: { baseUrl: gw.url } });
    await assert.rejects(ai.models.generateContent({ model: "fake-gpt", contents: "x" }));
    assert.equal(up.requests.length, 2, "cooling keys are not called again");
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("session strategy: a conversation keeps its key as it grows; a session header pins too", async () => {
  const up = await startFakeOpenAI();
  const gw = await startTestGateway({
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${up.url}/v1`,
      api_keys: ["sk-up-s1", "sk-up-s2", "sk-up-s3"],
      models: ["fake-gpt"],
      strategy: "session",
    }],
  });
  try {
    const client = chat(gw.url);
    const keysOf = (needle: string) =>
      new Set(
        up.requests.filter((r) => r.rawBody.includes(needle)).map((r) =>
          r.headers.get("authorization")
        ),
      );
    for (const topic of ["alpha topic", "beta topic", "gamma topic"]) {
      const history: Array<{ role: "user" | "assistant"; content: string }> = [];
      for (let turn = 0; turn < 3; turn++) {
        history.push({ role: "user", content: turn === 0 ? topic : `more ${turn}` });
        const res = await client.chat.completions.create({ model: "fake-gpt", messages: history });
        history.push({ role: "assistant", content: res.choices[0].message.content ?? "" });
      }
      assert.equal(keysOf(topic).size, 1, `${topic} stayed on one key`);
    }
    const pinned = new OpenAI({
      apiKey: "x",
      baseURL: `${gw.url}/v1`,
      maxRetries: 0,
      defaultHeaders: { "x-session-id": "sess-42" },
    });
    for (let i = 0; i < 4; i++) {
      await pinned.chat.completions.create({
        model: "fake-gpt",
        messages: [{ role: "user", content: `pinned different opening ${i}` }],
      });
    }
    assert.equal(keysOf("pinned different opening").size, 1);
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("proxy_url sends a provider's upstream requests through an egress proxy", async () => {
  const up = await startFakeOpenAI();
  let proxied = 0;
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    proxied++;
    const r = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body });
    return new Response(r.body, { status: r.status, headers: r.headers });
  });
  const gw = await startTestGateway({
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${up.url}/v1`,
      api_keys: ["sk-up-p"],
      models: ["fake-gpt"],
      proxy_url: `http://127.0.0.1:${proxy.addr.port}`,
    }],
  });
  try {
    const res = await ask(chat(gw.url), "fake-gpt");
    assert.match(res.choices[0].message.content ?? "", /Hello/);
    assert.equal(proxied, 1);
  } finally {
    await gw.close();
    await proxy.shutdown();
    await up.close();
  }
});

Deno.test("quota: upstream rate-limit headers per credential are shown by the admin API", async () => {
  const up = await startFakeOpenAI();
  const gw = await startTestGateway({
    auth: { admin_token: "quota-admin" },
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${up.url}/v1`,
      api_keys: ["sk-up-q1", "sk-up-q2-limited"],
      models: ["fake-gpt"],
      strategy: "fill-first",
    }],
  });
  try {
    await ask(chat(gw.url), "fake-gpt"); // served by q1
    await ask(chat(gw.url), "fake-gpt"); // and again (q2 is never first)
    const res = await fetch(`${gw.url}/admin/quota`, {
      headers: { authorization: "Bearer quota-admin" },
    });
    const { quota } = await res.json();
    const snaps = Object.values(quota.oa) as Array<Record<string, unknown>>;
    assert.equal(snaps.length, 1);
    assert.equal(snaps[0].remaining_requests, 499);
    assert.equal(snaps[0].limit_requests, 500);
    assert.equal(snaps[0].reset_requests, "120ms");
    assert.ok(!JSON.stringify(quota).includes("sk-up-q1"), "keys appear only as key ids");
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("headroom: a key the upstream reports as out of requests is avoided until its reset", async () => {
  const up = await startFakeOpenAI();
  const gw = await startTestGateway({
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${up.url}/v1`,
      api_keys: ["sk-up-a-empty", "sk-up-b-roomy"],
      models: ["fake-gpt"],
    }],
  });
  try {
    for (let i = 0; i < 6; i++) await ask(chat(gw.url), "fake-gpt");
    const onEmpty = up.requests.filter((r) =>
      r.headers.get("authorization")?.includes("-empty")
    ).length;
    assert.equal(onEmpty, 1, "after it said 0 left, the key was not used again");
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("an OAuth provider with no accounts answers 503 saying so", async () => {
  const gw = await startTestGateway({
    providers: [{ id: "gcli", type: "gemini-cli", models: ["gemini-2.5-pro"] }],
  });
  try {
    await assert.rejects(ask(chat(gw.url), "gemini-2.5-pro"), (err: unknown) => {
      assert.ok(err instanceof OpenAI.APIError);
      assert.equal(err.status, 503);
      assert.match(err.message, /No usable account/);
      return true;
    });
  } finally {
    await gw.close();
  }
});
