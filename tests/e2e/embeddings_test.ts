import assert from "node:assert/strict";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { fakeVector } from "../fakes/embeddings_wire.ts";
import { startFakeGemini } from "../fakes/gemini_upstream.ts";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startTestGateway } from "./start_gateway.ts";

/** Embeddings through the OpenAI SDK and @google/genai, to OpenAI and Gemini fakes. */

const KEY = "sk-client-embed-1";
const ADMIN = "admin-token-embed-0123456789";

async function setup(keys: { openai?: string[]; gemini?: string[] } = {}) {
  const openai = await startFakeOpenAI();
  const gemini = await startFakeGemini();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY], admin_token: ADMIN },
    providers: [
      {
        id: "oa",
        type: "openai",
        base_url: `${openai.url}/v1`,
        api_keys: keys.openai ?? ["sk-up-one"],
        models: ["text-embedding-3-small", "text-embedding-ada-002"],
      },
      {
        id: "gem",
        type: "gemini",
        base_url: gemini.url,
        api_keys: keys.gemini ?? ["AIza-one"],
        models: ["gemini-embedding-001"],
      },
      { id: "demo", type: "echo", models: ["demo"] },
    ],
    models: {
      "embed-g": { routes: [{ provider: "gem", model: "gemini-embedding-001" }] },
    },
  });
  return {
    openai,
    gemini,
    gw,
    client: new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 }),
    ai: new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: gw.url } }),
    async close() {
      await gw.close();
      await openai.close();
      await gemini.close();
    },
  };
}

Deno.test("OpenAI SDK to an OpenAI upstream: float and base64 answers, the body forwarded as is", async () => {
  const t = await setup();
  try {
    const float = await t.client.embeddings.create({
      model: "text-embedding-3-small",
      input: ["first text", "second text"],
      encoding_format: "float",
      dimensions: 4,
      user: "user-7",
    });
    assert.deepEqual(float.data.map((d) => d.embedding), [
      fakeVector("first text", 4),
      fakeVector("second text", 4),
    ]);
    assert.deepEqual(float.data.map((d) => d.index), [0, 1]);
    assert.equal(float.usage.prompt_tokens, 6);
    const sent = t.openai.requests.at(-1);
    assert.equal(sent?.path, "/v1/embeddings");
    assert.equal(sent?.body.user, "user-7", "fields the gateway does not read survive");
    assert.equal(sent?.body.dimensions, 4);

    // Without encoding_format the SDK asks for base64 and decodes it.
    const b64 = await t.client.embeddings.create({
      model: "text-embedding-3-small",
      input: "one text",
    });
    assert.equal(t.openai.requests.at(-1)?.body.encoding_format, "base64");
    assert.deepEqual(b64.data[0].embedding, fakeVector("one text"));

    // Raw base64: float32 little-endian, as OpenAI encodes it.
    const raw = await t.client.embeddings.create({
      model: "text-embedding-3-small",
      input: "one text",
      encoding_format: "base64",
    });
    const text = raw.data[0].embedding as unknown as string;
    const bytes = Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
    assert.deepEqual([...new Float32Array(bytes.buffer)], fakeVector("one text"));

    // Token arrays reach an OpenAI-compatible upstream.
    const tokens = await t.client.embeddings.create({
      model: "text-embedding-3-small",
      input: [[1, 2, 3]],
      encoding_format: "float",
    });
    assert.equal(tokens.data.length, 1);
  } finally {
    await t.close();
  }
});

Deno.test("OpenAI SDK to a Gemini upstream: embedContent for one text, a batch for several", async () => {
  const t = await setup();
  try {
    const one = await t.client.embeddings.create({
      model: "embed-g",
      input: "a single text",
      encoding_format: "float",
      dimensions: 6,
    });
    assert.deepEqual(one.data[0].embedding, fakeVector("a single text", 6));
    assert.equal(one.model, "embed-g");
    assert.ok(one.usage.prompt_tokens > 0, "Gemini reports no usage: estimated");
    const single = t.gemini.requests.at(-1);
    assert.equal(single?.path, "/v1beta/models/gemini-embedding-001:embedContent");
    assert.equal(single?.body.outputDimensionality, 6);

    const texts = Array.from({ length: 150 }, (_, i) => `text number ${i}`);
    const many = await t.client.embeddings.create({ model: "gemini-embedding-001", input: texts });
    assert.equal(many.data.length, 150);
    assert.deepEqual(many.data[149].embedding, fakeVector("text number 149"));
    const batches = t.gemini.requests.filter((r) => r.path.endsWith(":batchEmbedContents"));
    assert.equal(batches.length, 2, "150 texts in batches of at most 100");
  } finally {
    await t.close();
  }
});

Deno.test("@google/genai embedContent, single and batch, to Gemini and OpenAI upstreams", async () => {
  const t = await setup();
  try {
    const one = await t.ai.models.embedContent({
      model: "gemini-embedding-001",
      contents: "hello embeddings",
      config: { outputDimensionality: 5, taskType: "RETRIEVAL_QUERY" },
    });
    assert.deepEqual(one.embeddings?.[0].values, fakeVector("hello embeddings", 5));
    // The SDK sends a one-request batch; one text goes upstream as embedContent, task kept.
    const sent1 = t.gemini.requests.at(-1);
    assert.equal(sent1?.path, "/v1beta/models/gemini-embedding-001:embedContent");
    assert.equal(sent1?.body.taskType, "RETRIEVAL_QUERY");

    const batch = await t.ai.models.embedContent({
      model: "gemini-embedding-001",
      contents: ["alpha", "beta", "gamma"],
    });
    assert.deepEqual(batch.embeddings?.map((e) => e.values), [
      fakeVector("alpha"),
      fakeVector("beta"),
      fakeVector("gamma"),
    ]);

    // The single-text method, as other Gemini clients call it.
    const res = await fetch(`${t.gw.url}/v1beta/models/gemini-embedding-001:embedContent`, {
      method: "POST",
      headers: { "x-goog-api-key": KEY, "content-type": "application/json" },
      body: JSON.stringify({ content: { parts: [{ text: "solo" }] } }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { embedding: { values: fakeVector("solo") } });

    // Gemini client, OpenAI upstream: converted to an OpenAI request.
    const converted = await t.ai.models.embedContent({
      model: "text-embedding-3-small",
      contents: ["one", "two"],
      config: { outputDimensionality: 3 },
    });
    assert.deepEqual(converted.embeddings?.map((e) => e.values), [
      fakeVector("one", 3),
      fakeVector("two", 3),
    ]);
    const sent = t.openai.requests.at(-1);
    assert.deepEqual(sent?.body, {
      model: "text-embedding-3-small",
      input: ["one", "two"],
      dimensions: 3,
    });
  } finally {
    await t.close();
  }
});

Deno.test("embeddings rotate over two keys; a 429'd key is benched for its Retry-After", async () => {
  const t = await setup({
    openai: ["sk-up-a-ok", "sk-up-b-limited"],
    gemini: ["AIza-a-ok", "AIza-b-limited"],
  });
  try {
    const limited = (r: { headers: Headers }) =>
      (r.headers.get("authorization") ?? r.headers.get("x-goog-api-key") ?? "").includes(
        "limited",
      );
    for (let i = 0; i < 4; i++) {
      const res = await t.client.embeddings.create({
        model: "text-embedding-3-small",
        input: `q${i}`,
        encoding_format: "float",
      });
      assert.deepEqual(res.data[0].embedding, fakeVector(`q${i}`));
      const g = await t.ai.models.embedContent({
        model: "gemini-embedding-001",
        contents: `g${i}`,
      });
      assert.deepEqual(g.embeddings?.[0].values, fakeVector(`g${i}`));
    }
    assert.equal(t.openai.requests.filter(limited).length, 1, "tried once, then benched");
    assert.equal(t.gemini.requests.filter(limited).length, 1, "tried once, then benched");
    assert.equal(t.openai.requests.length, 5, "four answers, one retried attempt");

    // The same stats and request log as chat: route, tokens, the failed attempt.
    const logs = await (await fetch(`${t.gw.url}/admin/logs?limit=100`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    })).json() as {
      entries: Array<{
        model: string;
        provider: string | null;
        status: number;
        input_tokens: number | null;
        attempts: Array<{ status: number; reason: string }>;
      }>;
    };
    const oa = logs.entries.filter((e) => e.model === "text-embedding-3-small");
    const gem = logs.entries.filter((e) => e.model === "gemini-embedding-001");
    assert.equal(oa.length, 4);
    assert.equal(gem.length, 4);
    assert.ok(oa.every((e) => e.provider === "oa" && e.status === 200 && e.input_tokens === 1));
    assert.ok(gem.every((e) => e.provider === "gem" && (e.input_tokens ?? 0) > 0), "estimated");
    const retried = [...oa, ...gem].filter((e) => e.attempts.length > 0);
    assert.deepEqual(retried.map((e) => e.attempts[0].reason), ["rate_limit", "rate_limit"]);
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 2; i++) {
      await t.client.embeddings.create({ model: "text-embedding-3-small", input: "again" });
    }
    assert.equal(t.openai.requests.filter(limited).length, 2, "back after its Retry-After");
  } finally {
    await t.close();
  }
});

Deno.test("embedding errors come in the caller's own format", async () => {
  const t = await setup();
  try {
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${t.gw.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    const cases: Array<[unknown, number, string]> = [
      [{ model: "text-embedding-3-small", input: "" }, 400, "invalid_input"],
      [{ model: "text-embedding-3-small", input: [] }, 400, "invalid_input"],
      [{ model: "text-embedding-3-small", input: [{ text: "x" }] }, 400, "invalid_input"],
      [{ input: "x" }, 400, "invalid_model"],
      [{ model: "text-embedding-3-small", input: "x", dimensions: 0 }, 400, "invalid_dimensions"],
      [
        { model: "text-embedding-3-small", input: "x", encoding_format: "hex" },
        400,
        "invalid_encoding_format",
      ],
      [{ model: "no-such-model", input: "x" }, 404, "model_not_found"],
      [{ model: "demo", input: "x" }, 400, "embeddings_unsupported"],
      [{ model: "gemini-embedding-001", input: [[1, 2]] }, 400, "unsupported_input"],
    ];
    for (const [body, status, code] of cases) {
      const res = await post("/v1/embeddings", body);
      const json = await res.json() as { error: { code: string; message: string } };
      assert.equal(res.status, status, JSON.stringify(body));
      assert.equal(json.error.code, code, JSON.stringify(body));
    }
    // The upstream's own refusal is relayed (ada-002 takes no dimensions).
    const ada = await post("/v1/embeddings", {
      model: "text-embedding-ada-002",
      input: "x",
      dimensions: 3,
    });
    assert.equal(ada.status, 400);
    assert.match(
      ((await ada.json()) as { error: { message: string } }).error.message,
      /dimensions/,
    );

    // Gemini callers get Google's error shape.
    const bad = await post("/v1beta/models/gemini-embedding-001:embedContent", { content: {} }, {
      authorization: "",
      "x-goog-api-key": KEY,
    });
    assert.equal(bad.status, 400);
    const gerr = await bad.json() as { error: { code: number; status: string } };
    assert.equal(gerr.error.code, 400);
    assert.equal(gerr.error.status, "INVALID_ARGUMENT");
    assert.equal(t.openai.requests.length + t.gemini.requests.length, 1, "only ada was asked");
  } finally {
    await t.close();
  }
});
