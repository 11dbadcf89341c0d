import assert from "node:assert/strict";
import { startFaultyUpstream } from "../fakes/faulty_upstream.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

/**
 * The client side of faults and limits: a client that leaves mid-stream (the upstream request
 * must be gone within 100 ms and its stream slot given back), concurrent streams per client
 * key, message count and header size, each refused in the caller's format.
 */

const KEY_A = "sk-client-a-123456";
const KEY_B = "sk-client-b-654321";

async function setup(limits: Record<string, number>): Promise<{
  gw: TestGateway;
  upstream: ReturnType<typeof startFaultyUpstream>;
  close(): Promise<void>;
}> {
  const upstream = startFaultyUpstream();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY_A, KEY_B] },
    providers: [{
      id: "faulty",
      type: "openai",
      base_url: upstream.url,
      api_keys: ["sk-up-1"],
      models: ["ok", "stall-stream"],
      idle_timeout_ms: 10_000,
    }],
    limits,
  });
  return {
    gw,
    upstream,
    async close() {
      await gw.close();
      await upstream.close();
    },
  };
}

type Format = "chat" | "anthropic" | "responses" | "gemini";

function post(
  base: string,
  format: Format,
  model: string,
  key: string,
  extra: { messages?: number; signal?: AbortSignal; headers?: Record<string, string> } = {},
): Promise<Response> {
  const n = extra.messages ?? 1;
  const messages = Array.from({ length: n }, (_, i) => ({
    role: i % 2 ? "assistant" : "user",
    content: "hi",
  }));
  const contents = messages.map((m) => ({
    role: m.role === "user" ? "user" : "model",
    parts: [{ text: "hi" }],
  }));
  const [path, body, headers] = format === "chat"
    ? ["/v1/chat/completions", { model, messages, stream: true }, {
      authorization: `Bearer ${key}`,
    }]
    : format === "anthropic"
    ? ["/v1/messages", { model, max_tokens: 32, messages, stream: true }, {
      "x-api-key": key,
      "anthropic-version": "2023-06-01",
    }]
    : format === "responses"
    ? ["/v1/responses", { model, input: messages, stream: true }, {
      authorization: `Bearer ${key}`,
    }]
    : [`/v1beta/models/${model}:streamGenerateContent?alt=sse`, { contents }, {
      "x-goog-api-key": key,
    }];
  return fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers, ...extra.headers },
    body: JSON.stringify(body),
    signal: extra.signal,
  });
}

/** Reads until the text has arrived (the stream's first relayed piece), then returns. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  needle: string,
): Promise<void> {
  const dec = new TextDecoder();
  let text = "";
  while (!text.includes(needle)) {
    const { done, value } = await reader.read();
    if (done) assert.fail(`stream ended before "${needle}": ${text}`);
    text += dec.decode(value, { stream: true });
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  return cond();
}

Deno.test("a client leaving mid-stream aborts the upstream request within 100 ms, in every format, and frees its slot", async () => {
  const t = await setup({ max_concurrent_streams_per_key: 1 });
  try {
    for (const format of ["chat", "anthropic", "responses", "gemini"] as const) {
      const before = t.upstream.open();
      const controller = new AbortController();
      const res = await post(t.gw.url, format, "stall-stream", KEY_A, {
        signal: controller.signal,
      });
      assert.equal(res.status, 200, format);
      const reader = res.body!.getReader();
      await readUntil(reader, "Hel");
      const stalled = t.upstream.lastStallClosedAt();
      const leftAt = Date.now();
      controller.abort();
      await reader.cancel().catch(() => {});
      assert.ok(
        await waitFor(() => t.upstream.lastStallClosedAt() !== stalled, 1000),
        `${format}: the upstream request was not aborted`,
      );
      const took = t.upstream.lastStallClosedAt()! - leftAt;
      assert.ok(took < 100, `${format}: upstream aborted after ${took} ms`);
      assert.ok(await waitFor(() => t.upstream.open() <= before, 1000), `${format}: socket left`);
      // The slot is back: the same key may stream again (limit 1).
      const again = await post(t.gw.url, format, "ok", KEY_A);
      assert.equal(again.status, 200, `${format}: ${await again.clone().text()}`);
      await again.text();
    }
  } finally {
    await t.close();
  }
});

Deno.test("concurrent streams per client key: 429 in the caller's format beyond the limit, released at the end", async () => {
  const t = await setup({ max_concurrent_streams_per_key: 2 });
  try {
    const controllers = [new AbortController(), new AbortController()];
    const open = await Promise.all(
      controllers.map((c) => post(t.gw.url, "chat", "stall-stream", KEY_A, { signal: c.signal })),
    );
    for (const r of open) assert.equal(r.status, 200);
    const readers = open.map((r) => r.body!.getReader());
    for (const r of readers) await readUntil(r, "Hel");

    const refused = await post(t.gw.url, "anthropic", "ok", KEY_A);
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    const body = await refused.json();
    assert.equal(body.type, "error");
    assert.equal(body.error.type, "rate_limit_error");
    assert.match(body.error.message, /limit 2/);
    const refusedGemini = await post(t.gw.url, "gemini", "ok", KEY_A);
    assert.equal(refusedGemini.status, 429);
    assert.equal((await refusedGemini.json()).error.status, "RESOURCE_EXHAUSTED");

    // Another key has its own slots; a non-streaming request needs none.
    const other = await post(t.gw.url, "chat", "ok", KEY_B);
    assert.equal(other.status, 200);
    await other.text();
    const plain = await fetch(`${t.gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY_A}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "ok", messages: [{ role: "user", content: "x" }] }),
    });
    assert.equal(plain.status, 200);
    await plain.text();

    controllers[0].abort();
    await readers[0].cancel().catch(() => {});
    let admitted: Response | undefined;
    await waitFor(() => false, 20);
    for (let i = 0; i < 50 && admitted?.status !== 200; i++) {
      await admitted?.text();
      admitted = await post(t.gw.url, "chat", "ok", KEY_A);
      if (admitted.status !== 200) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(admitted?.status, 200, "a slot was given back when the client left");
    await admitted?.text();
    controllers[1].abort();
    await readers[1].cancel().catch(() => {});
  } finally {
    await t.close();
  }
});

Deno.test("message count and header size limits: clear 400/431 in the caller's format", async () => {
  const t = await setup({ max_messages: 5, max_header_bytes: 8 * 1024 });
  try {
    const ok = await post(t.gw.url, "chat", "ok", KEY_A, { messages: 5 });
    assert.equal(ok.status, 200);
    await ok.text();
    const many = await post(t.gw.url, "anthropic", "ok", KEY_A, { messages: 7 });
    assert.equal(many.status, 400);
    const manyBody = await many.json();
    assert.equal(manyBody.type, "error");
    assert.match(manyBody.error.message, /7 messages; the limit is 5/);
    const manyChat = await post(t.gw.url, "chat", "ok", KEY_A, { messages: 6 });
    assert.equal(manyChat.status, 400);
    assert.equal((await manyChat.json()).error.code, "too_many_messages");

    const big = await post(t.gw.url, "gemini", "ok", KEY_A, {
      headers: { "x-padding": "a".repeat(9 * 1024) },
    });
    assert.equal(big.status, 431);
    const bigBody = await big.json();
    assert.equal(typeof bigBody.error.code, "number");
    assert.match(bigBody.error.message, /limit is 8192/);
  } finally {
    await t.close();
  }
});
