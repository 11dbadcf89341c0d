import assert from "node:assert/strict";
import { ResponseStore, type StoredResponse } from "../../src/responses_state/store.ts";

async function withKv(fn: (kv: Deno.Kv) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  try {
    await fn(kv);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function record(textBytes: number): StoredResponse {
  return {
    input: [{ type: "message", role: "user", content: "x".repeat(textBytes) }],
    response: { id: "resp_1", object: "response", output: [{ type: "message" }] },
  };
}

async function chunkCount(kv: Deno.Kv): Promise<number> {
  let n = 0;
  for await (const e of kv.list({ prefix: ["responses"] })) if (e.key.includes("chunk")) n++;
  return n;
}

Deno.test("a record larger than KV's 64 KiB value limit is chunked and read back whole", async () => {
  await withKv(async (kv) => {
    const store = new ResponseStore(kv);
    // ~700 KB: 12 chunks, more than one atomic commit's worth.
    const big = record(700_000);
    await store.put("key-a", "resp_1", big, 60_000);
    assert.deepEqual(await store.get("key-a", "resp_1"), big);
    assert.equal(await chunkCount(kv), 12);
    // Replacing it drops the old version's chunks.
    await store.put("key-a", "resp_1", record(10), 60_000);
    assert.deepEqual(await store.get("key-a", "resp_1"), record(10));
    assert.equal(await chunkCount(kv), 1);
  });
});

Deno.test("records expire after their TTL (injectable clock)", async () => {
  await withKv(async (kv) => {
    let now = 1_000_000;
    const store = new ResponseStore(kv, { now: () => now });
    await store.put("key-a", "resp_1", record(10), 30 * 86_400_000);
    now += 30 * 86_400_000 - 1;
    assert.ok(await store.get("key-a", "resp_1"), "still there a millisecond before");
    now += 1;
    assert.equal(await store.get("key-a", "resp_1"), undefined, "gone at the TTL");
    assert.equal(await store.delete("key-a", "resp_1"), false);
  });
});

Deno.test("another owner never reads or deletes a record; its owner deletes it", async () => {
  await withKv(async (kv) => {
    const store = new ResponseStore(kv);
    await store.put("key-a", "resp_1", record(10), 60_000);
    assert.equal(await store.get("key-b", "resp_1"), undefined);
    assert.equal(await store.delete("key-b", "resp_1"), false);
    assert.ok(await store.get("key-a", "resp_1"));
    assert.equal(await store.delete("key-a", "resp_1"), true);
    assert.equal(await store.get("key-a", "resp_1"), undefined);
    assert.equal(await chunkCount(kv), 0);
    assert.equal(await store.delete("key-a", "resp_1"), false);
  });
});
