import assert from "node:assert/strict";
import { startFaultyUpstream } from "../fakes/faulty_upstream.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

/**
 * The client side of faults and limits: a client that leaves mid-stream (the upstream request
 * must be gone within 100 ms and its stream slot given back), concurrent streams per client
 * key (one identity per request: a junk key beside a valid one is no new allowance), message
 * count and header size, each refused in the caller's format. Bounded memory and connections:
 * a global budget of request-body bytes in flight (503 with `Retry-After` beyond it), a body
 * that stops arriving is cut off (408), and admin routes read small bodies only (413). Raw
 * sockets to 127.0.0.1 play the attacker where fetch() would not misbehave.
 */

const KEY_A = "sk-client-a-123456";
const KEY_B = "sk-client-b-654321";
const ADMIN = "admin-token-faults-123";

async function setup(limits: Record<string, number>): Promise<{
  gw: TestGateway;
  upstream: ReturnType<typeof startFaultyUpstream>;
  close(): Promise<void>;
}> {
  const upstream = startFaultyUpstream();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY_A, KEY_B], admin_token: ADMIN },
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

const BIG = 700_000;

function bigChat(base: string, model: string, size: number, init: RequestInit = {}) {
  return fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY_A}`, "content-type": "application/json" },
    body: JSON.stringify({
      model,
      stream: model === "stall-stream",
      messages: [{ role: "user", content: "x".repeat(size) }],
    }),
    ...init,
  });
}

/** Reads what the server sends until `needle` arrives, it closes, or `ms` pass. */
async function readSocketUntil(conn: Deno.Conn, needle: string, ms: number): Promise<string> {
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf).catch(() => null),
      new Promise<"late">((r) => timer = setTimeout(() => r("late"), deadline - Date.now())),
    ]);
    clearTimeout(timer);
    if (n === "late" || n === null) return text;
    text += new TextDecoder().decode(buf.subarray(0, n));
    if (text.includes(needle)) return text;
  }
  return text;
}

async function rawRequest(url: string, head: string, body = ""): Promise<Deno.Conn> {
  const { port } = new URL(url);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  await conn.write(new TextEncoder().encode(head + body));
  return conn;
}

Deno.test("in-flight body budget: a request over it gets 503 + Retry-After in the caller's format; the budget comes back", async () => {
  const t = await setup({ max_inflight_body_bytes: 1_000_000, max_body_bytes: 2_000_000 });
  try {
    // One large request held in flight (a stream the upstream never finishes).
    const controller = new AbortController();
    const held = await bigChat(t.gw.url, "stall-stream", BIG, { signal: controller.signal });
    assert.equal(held.status, 200);
    const reader = held.body!.getReader();
    await reader.read();

    // A second large one does not fit: 503 in the Anthropic caller's shape, with Retry-After.
    const refused = await fetch(`${t.gw.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": KEY_A, "anthropic-version": "2023-06-01" },
      body: JSON.stringify({
        model: "ok",
        max_tokens: 5,
        messages: [{ role: "user", content: "x".repeat(BIG) }],
      }),
    });
    assert.equal(refused.status, 503);
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    const body = await refused.json();
    assert.equal(body.type, "error");
    assert.equal(body.error.type, "api_error");
    assert.match(body.error.message, /in flight/);
    const openai = await bigChat(t.gw.url, "ok", BIG);
    assert.equal(openai.status, 503);
    assert.equal((await openai.json()).error.code, "inflight_body_budget_exhausted");

    // A small one still fits beside the held one.
    const small = await bigChat(t.gw.url, "ok", 1_000);
    assert.equal(small.status, 200);
    await small.text();

    // The held request ends: its share is given back and a large request fits again.
    controller.abort();
    await reader.cancel().catch(() => {});
    let again: Response | undefined;
    for (let i = 0; i < 50; i++) {
      again = await bigChat(t.gw.url, "ok", BIG);
      if (again.status === 200) break;
      await again.body?.cancel();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(again?.status, 200);
    await again?.text();
  } finally {
    await t.close();
  }
});

Deno.test("a body that stops arriving mid-way is cut off with 408 (small and large bodies) and holds no budget", async () => {
  // The budget fits one of the large bodies: the test fails if a stalled one kept its share.
  const t = await setup({ body_idle_timeout_ms: 300, max_inflight_body_bytes: 700_000 });
  try {
    for (const [declared, sent] of [[500_000, 100_000], [1_000, 10]]) {
      const started = Date.now();
      const conn = await rawRequest(
        t.gw.url,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
          `Authorization: Bearer ${KEY_A}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${declared}\r\n\r\n`,
        '{"model":"ok","messages":[{"role":"user","content":"' + "x".repeat(sent),
      );
      try {
        const text = await readSocketUntil(conn, "stopped arriving", 5_000);
        assert.match(text, /^HTTP\/1\.1 408/, `declared ${declared}: ${text.slice(0, 200)}`);
        // Deno.serve keeps the socket until the client leaves, whatever the answer says
        // (`connection: close` is sent); the handler, its memory and budget share are freed.
        assert.match(text, /connection: close/i);
        const took = Date.now() - started;
        assert.ok(took < 3_000, `declared ${declared}: cut off after ${took} ms`);
      } finally {
        conn.close();
      }
    }
    // The body budget taken by those requests was given back.
    const ok = await bigChat(t.gw.url, "ok", 600_000);
    assert.equal(ok.status, 200);
    await ok.text();
  } finally {
    await t.close();
  }
});

Deno.test("admin routes read bounded bodies: a 30 MB rollback body gets 413 without being read", async () => {
  const t = await setup({});
  try {
    // Declared: refused before a byte of the body is read.
    const conn = await rawRequest(
      t.gw.url,
      "POST /admin/config/rollback HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        `Authorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${30 * 1024 * 1024}\r\n\r\n`,
    );
    try {
      const text = await readSocketUntil(conn, "larger than the limit", 5_000);
      assert.match(text, /^HTTP\/1\.1 413/, text.slice(0, 200));
    } finally {
      conn.close();
    }
    // Streamed without a length: the read stops at the bound.
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 4 * 1024 * 1024) return c.close();
        sent += chunk.byteLength;
        c.enqueue(chunk);
      },
    });
    for (const path of ["/admin/config/rollback", "/admin/config", "/admin/credentials/faulty"]) {
      const res = await fetch(t.gw.url + path, {
        method: path === "/admin/config" ? "PUT" : "POST",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body: path === "/admin/config/rollback" ? body : " ".repeat(2 * 1024 * 1024),
      });
      assert.equal(res.status, 413, path);
      assert.match((await res.json()).error.message, /larger than the limit of 1048576 bytes/);
    }
  } finally {
    await t.close();
  }
});

Deno.test("a junk Bearer next to a valid x-api-key does not bypass max_concurrent_streams_per_key", async () => {
  // Before: auth took the x-api-key, the limits took the junk Bearer: a fresh slot per request.
  const t = await setup({ max_concurrent_streams_per_key: 1 });
  const controllers: AbortController[] = [];
  const open = (key: string, junk?: string) => {
    const controller = new AbortController();
    controllers.push(controller);
    return post(t.gw.url, "anthropic", "stall-stream", key, {
      signal: controller.signal,
      headers: junk ? { authorization: `Bearer ${junk}` } : {},
    });
  };
  try {
    const first = await open(KEY_A, "junk-1");
    assert.equal(first.status, 200);
    await first.body!.getReader().read();
    for (const junk of ["junk-2", "junk-3", undefined]) {
      const again = await open(KEY_A, junk);
      assert.equal(again.status, 429, `${junk}: ${await again.clone().text()}`);
      assert.equal((await again.json()).error.type, "rate_limit_error");
    }
    // Another key has its own slot; a junk key alone is refused.
    const other = await open(KEY_B, "junk-9");
    assert.equal(other.status, 200);
    await other.body!.getReader().read();
    const junk = await fetch(`${t.gw.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: "Bearer junk-10", "anthropic-version": "2023-06-01" },
      body: "{}",
    });
    assert.equal(junk.status, 401);
    await junk.body?.cancel();
  } finally {
    for (const c of controllers) c.abort();
    await t.close();
  }
});
