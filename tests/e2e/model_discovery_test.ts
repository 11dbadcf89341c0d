import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { LISTED_CLAUDE_MODELS, startFakeAnthropic } from "../fakes/anthropic_upstream.ts";
import { startFakeGemini } from "../fakes/gemini_upstream.ts";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startTestGateway } from "./start_gateway.ts";

/** Model discovery: wildcard providers list their upstreams' models, refreshed in the background. */

const KEY = "sk-client-discovery-1";

/** Polls `/v1/models` until `id` is listed (the first refresh runs in the background). */
async function waitListed(url: string, id: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } });
    const body = await res.json() as { data: Array<{ id: string }> };
    if (body.data.some((m) => m.id === id)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${id} was never listed`);
}

Deno.test("wildcard providers list their upstreams' models through the OpenAI, Anthropic and Gemini SDKs", async () => {
  const openai = await startFakeOpenAI();
  openai.listedModels = ["gpt-up-1", "gpt-up-2"];
  const anthropic = await startFakeAnthropic();
  const gemini = await startFakeGemini();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY] },
    providers: [
      {
        id: "oa",
        type: "openai",
        base_url: `${openai.url}/v1`,
        api_keys: ["sk-up-list"],
        models: ["*"],
      },
      {
        id: "ant",
        type: "anthropic",
        base_url: anthropic.url,
        api_keys: ["sk-ant-up-list"],
        models: ["claude-*"],
        discover: true,
      },
      {
        id: "gem",
        type: "gemini",
        base_url: gemini.url,
        api_keys: ["AIza-list"],
        models: ["gemini-2.5-*"],
        discover: true,
      },
    ],
    models: { smart: { routes: [{ provider: "oa", model: "gpt-up-1" }] } },
    model_priority: ["ant", "gem", "oa"],
  });
  try {
    await waitListed(gw.url, "claude-haiku-4-5-20251001");
    await waitListed(gw.url, "gpt-up-2");
    await waitListed(gw.url, "gemini-2.5-flash");

    const oa = new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const listed = [];
    for await (const m of oa.models.list()) listed.push(m);
    const ids = listed.map((m) => m.id);
    for (const id of ["smart", "gpt-up-1", "gpt-up-2", "gemini-2.5-flash"]) {
      assert.ok(ids.includes(id), `${id} listed`);
    }
    for (const m of LISTED_CLAUDE_MODELS) assert.ok(ids.includes(m.id), `${m.id} listed`);
    // Only what the provider's patterns route to it: the embedding model is not `gemini-2.5-*`.
    assert.ok(!ids.includes("gemini-embedding-001"));
    assert.equal(ids.filter((id) => id === "gpt-up-1").length, 1, "listed once");
    const up2 = listed.find((m) => m.id === "gpt-up-2");
    assert.equal(up2?.owned_by, "oa");
    assert.equal(up2?.created, 1_700_000_000);

    const claude = new Anthropic({ apiKey: KEY, baseURL: gw.url, maxRetries: 0 });
    const claudeListed = [];
    for await (const m of claude.models.list()) claudeListed.push(m);
    const opus = claudeListed.find((m) => m.id === LISTED_CLAUDE_MODELS[0].id);
    assert.equal(opus?.type, "model");
    assert.equal(opus?.display_name, "Claude Opus 4.5");
    assert.equal(opus?.created_at, "2025-11-01T00:00:00.000Z");
    assert.ok(claudeListed.some((m) => m.id === "smart"), "aliases are listed too");
    const page = await claude.models.list();
    assert.equal(page.has_more, false);
    assert.equal(page.first_id, claudeListed[0].id);
    assert.equal(page.last_id, claudeListed.at(-1)?.id);

    const ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: gw.url } });
    const geminiListed = [];
    for await (const m of await ai.models.list()) geminiListed.push(m.name);
    assert.ok(geminiListed.includes("models/gemini-2.5-flash"));
    assert.ok(geminiListed.includes("models/gpt-up-2"));

    // The listing calls used pool credentials, in each API's own auth.
    const listCall = openai.requests.find((r) => r.path === "/v1/models");
    assert.equal(listCall?.headers.get("authorization"), "Bearer sk-up-list");
    const antCall = anthropic.requests.find((r) => r.path === "/v1/models");
    assert.equal(antCall?.headers.get("x-api-key"), "sk-ant-up-list");
    assert.ok(antCall?.headers.get("anthropic-version"));
  } finally {
    await gw.close();
    await openai.close();
    await anthropic.close();
    await gemini.close();
  }
});

Deno.test("a slow upstream model list never delays /v1/models", async () => {
  const openai = await startFakeOpenAI();
  openai.listedModels = ["gpt-slow-listed"];
  openai.listDelayMs = 3000;
  const gw = await startTestGateway({
    auth: { api_keys: [KEY] },
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${openai.url}/v1`,
      api_keys: ["sk-up-slow"],
      models: ["*"],
    }],
    models: { smart: { routes: [{ provider: "oa", model: "gpt-4o" }] } },
  });
  try {
    const client = new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const page = await client.models.list();
      const ms = performance.now() - t0;
      assert.ok(ms < 1000, `answered in ${ms.toFixed(0)} ms while the upstream list takes 3 s`);
      assert.deepEqual(page.data.map((m) => m.id), ["smart"]);
    }
    assert.ok(openai.requests.some((r) => r.path === "/v1/models"), "the refresh is under way");
  } finally {
    await gw.close();
    await openai.close();
  }
});
