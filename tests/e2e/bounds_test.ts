import assert from "node:assert/strict";
import { startFaultyUpstream } from "../fakes/faulty_upstream.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

/**
 * Bounded memory and connections: a global budget of request-body bytes in flight (503 with
 * `Retry-After` beyond it), a body that stops arriving is cut off (408 and the connection
 * closed), and admin routes read small bodies only (413). Raw sockets to 127.0.0.1 play the
 * attacker where fetch() would not misbehave.
 */

const KEY = "sk-client-bounds-123456";
const ADMIN = "admin-token-bounds-123";
const BIG = 700_000;

async function setup(limits: Record<string, number>): Promise<{
  gw: TestGateway;
  upstream: ReturnType<typeof startFaultyUpstream>;
  close(): Promise<void>;
}> {
  const upstream = startFaultyUpstream();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY], admin_token: ADMIN },
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

function chat(base: string, model: string, size: number, init: RequestInit = {}) {
  return fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({
      model,
      stream: model === "stall-stream",
      messages: [{ role: "user", content: "x".repeat(size) }],
    }),
    ...init,
  });
}

/** Reads what the server sends until `needle` arrives, it closes, or `ms` pass. */
async function readUntil(conn: Deno.Conn, needle: string, ms: number): Promise<string> {
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
    const held = await chat(t.gw.url, "stall-stream", BIG, { signal: controller.signal });
    assert.equal(held.status, 200);
    const reader = held.body!.getReader();
    await reader.read();

    // A second large one does not fit: 503 in the Anthropic caller's shape, with Retry-After.
    const refused = await fetch(`${t.gw.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": KEY, "anthropic-version": "2023-06-01" },
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
    const openai = await chat(t.gw.url, "ok", BIG);
    assert.equal(openai.status, 503);
    assert.equal((await openai.json()).error.code, "inflight_body_budget_exhausted");

    // A small one still fits beside the held one.
    const small = await chat(t.gw.url, "ok", 1_000);
    assert.equal(small.status, 200);
    await small.text();

    // The held request ends: its share is given back and a large request fits again.
    controller.abort();
    await reader.cancel().catch(() => {});
    let again: Response | undefined;
    for (let i = 0; i < 50; i++) {
      again = await chat(t.gw.url, "ok", BIG);
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
          `Authorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${declared}\r\n\r\n`,
        '{"model":"ok","messages":[{"role":"user","content":"' + "x".repeat(sent),
      );
      try {
        const text = await readUntil(conn, "stopped arriving", 5_000);
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
    const ok = await chat(t.gw.url, "ok", 600_000);
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
      const text = await readUntil(conn, "larger than the limit", 5_000);
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
