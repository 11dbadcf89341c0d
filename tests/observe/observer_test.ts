import assert from "node:assert/strict";
import { createLogger } from "../../src/observe/logger.ts";
import { Observer } from "../../src/observe/observer.ts";
import { countsOf } from "../../src/observe/stats.ts";

const CONFIG = {
  request_log_size: 50,
  request_log_ttl_hours: 1,
  flush_interval_ms: 60_000,
  metrics_auth: false,
};

function sse(chunks: string[], delayMs = 0): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream({
    async pull(controller) {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if (i < chunks.length) controller.enqueue(enc.encode(chunks[i++]));
      else controller.close();
    },
  });
}

Deno.test("a tracked stream is finished when it ends: TTFB, latency, usage from head and tail", async () => {
  const kv = await Deno.openKv(":memory:");
  const obs = new Observer(kv, () => CONFIG, createLogger({ write: () => {} }));
  try {
    const rec = obs.begin("anthropic", "claude", true);
    rec.route("anth", "acct1", "claude-x");
    rec.failed(429, "rate_limit");
    rec.route("anth", "acct2", "claude-x");
    const middle = Array.from({ length: 50 }, () => 'data: {"type":"content_block_delta"}\n\n');
    const res = await obs.track(
      rec,
      new Response(
        sse([
          'data: {"message":{"usage":{"input_tokens":30,"output_tokens":1}}}\n\n',
          ...middle,
          'data: {"usage":{"output_tokens":12}}\n\n',
        ], 1),
        { headers: { "content-type": "text/event-stream" } },
      ),
    );
    assert.equal(rec.done, false, "not finished before the body is sent");
    await res.text();
    assert.equal(rec.done, true);
    const [entry] = await obs.log.recent(1);
    assert.equal(entry.status, 200);
    assert.equal(entry.input_tokens, 30);
    assert.equal(entry.output_tokens, 12);
    assert.equal(entry.served_model, "claude-x");
    assert.equal(entry.account, "acct2");
    assert.deepEqual(entry.attempts, [
      { provider: "anth", account: "acct1", status: 429, reason: "rate_limit" },
    ]);
    assert.ok(entry.ttfb_ms !== null && entry.ttfb_ms < entry.latency_ms);
    const data = await obs.stats.read();
    assert.equal(countsOf(data, "all", "").rate_limited, 1);
    assert.equal(countsOf(data, "account", "anth/acct1").failure, 1);
    assert.equal(countsOf(data, "account", "anth/acct2").success, 1);
  } finally {
    await obs.close();
    kv.close();
  }
});

Deno.test("a client that leaves mid-stream is logged as 499", async () => {
  const kv = await Deno.openKv(":memory:");
  const obs = new Observer(kv, () => CONFIG, createLogger({ write: () => {} }));
  try {
    const rec = obs.begin("openai_chat", "m", true);
    const res = await obs.track(
      rec,
      new Response(sse(["data: 1\n\n", "data: 2\n\n", "data: 3\n\n"], 5)),
    );
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    assert.equal(rec.done, true);
    assert.equal((await obs.log.recent(1))[0].status, 499);
    assert.equal(countsOf(await obs.stats.read(), "all", "").failure, 1);
  } finally {
    await obs.close();
    kv.close();
  }
});

Deno.test("a plain answer is scanned whole and sent on as bytes", async () => {
  const kv = await Deno.openKv(":memory:");
  const obs = new Observer(kv, () => CONFIG, createLogger({ write: () => {} }));
  try {
    const rec = obs.begin("gemini", "g", false);
    const body = JSON.stringify({
      candidates: [{ content: { parts: [{ text: "x".repeat(20_000) }] } }],
      usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 6 },
    });
    const res = await obs.track(rec, Response.json(JSON.parse(body)));
    assert.equal(rec.done, true);
    assert.equal(await res.text(), body);
    const [entry] = await obs.log.recent(1);
    assert.deepEqual([entry.input_tokens, entry.output_tokens, entry.stream], [5, 6, false]);
  } finally {
    await obs.close();
    kv.close();
  }
});
