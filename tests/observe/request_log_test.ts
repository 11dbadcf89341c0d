import assert from "node:assert/strict";
import { type RequestEntry, RequestLog } from "../../src/observe/request_log.ts";

function entry(i: number, at = Date.now()): RequestEntry {
  return {
    id: `req-${i}`,
    time: new Date(at + i).toISOString(),
    format: "openai_chat",
    model: "m",
    served_model: "m",
    provider: "p",
    account: "key-0000000a",
    status: 200,
    attempts: [],
    latency_ms: 5,
    ttfb_ms: 2,
    input_tokens: 1,
    output_tokens: 1,
    stream: false,
  };
}

Deno.test("the log reads newest first, merges unflushed entries, and is trimmed to its size", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = new RequestLog(kv, { size: 5, ttlMs: 3600_000 });
    for (let i = 0; i < 12; i++) {
      log.add(entry(i));
      if (i % 3 === 2) await log.flush();
    }
    log.add(entry(12)); // not flushed yet
    assert.deepEqual((await log.recent(3)).map((e) => e.id), ["req-12", "req-11", "req-10"]);
    assert.equal((await log.recent(100)).length, 5, "never more than the size");
    let stored = 0;
    for await (const _ of kv.list({ prefix: ["log"] })) stored++;
    assert.equal(stored, 5, "KV holds only the newest entries");
  } finally {
    kv.close();
  }
});

Deno.test("log entries expire after their lifetime", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = new RequestLog(kv, { size: 10, ttlMs: 40 });
    log.add(entry(1));
    await log.flush();
    assert.equal((await log.recent(10)).length, 1);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal((await log.recent(10)).length, 0);
  } finally {
    kv.close();
  }
});

Deno.test("a restart on the same KV file keeps the log", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await Deno.openKv(`${dir}/kv.sqlite3`);
    const log = new RequestLog(first, { size: 10, ttlMs: 3600_000 });
    log.add(entry(1));
    log.add(entry(2));
    await log.flush();
    first.close();
    const second = await Deno.openKv(`${dir}/kv.sqlite3`);
    const again = new RequestLog(second, { size: 10, ttlMs: 3600_000 });
    assert.deepEqual((await again.recent(10)).map((e) => e.id), ["req-2", "req-1"]);
    second.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
