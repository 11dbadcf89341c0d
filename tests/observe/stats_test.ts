import assert from "node:assert/strict";
import { countsOf, quantiles, StatsStore } from "../../src/observe/stats.ts";

Deno.test("two instances on one KV add up to shared totals under concurrent counting", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const a = new StatsStore(kv);
    const b = new StatsStore(kv);
    // Many interleaved tasks counting and flushing at once.
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const s = i % 2 === 0 ? a : b;
        for (let j = 0; j < 50; j++) {
          s.count("all", "", "requests");
          s.count("provider", "p1", "input_tokens", 3);
          s.observe("latency", "p1", j);
          if (j % 10 === 0) await s.flush();
        }
      }),
    );
    await Promise.all([a.flush(), b.flush()]);
    const data = await new StatsStore(kv).read();
    assert.equal(countsOf(data, "all", "").requests, 2000);
    assert.equal(countsOf(data, "provider", "p1").input_tokens, 6000);
    const q = quantiles(data, "latency");
    assert.ok(q.p50 !== null && q.p95 !== null && q.p50 <= q.p95 && q.p95 <= 50);
  } finally {
    kv.close();
  }
});

Deno.test("unflushed counts are read too; a failed KV write keeps them for the next flush", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    let failing = true;
    const errors: unknown[] = [];
    // A KV whose commits fail while `failing` is set.
    const flaky = new Proxy(kv, {
      get(target, prop) {
        if (prop === "atomic") {
          return () => {
            const op = target.atomic();
            return {
              sum(key: Deno.KvKey, n: bigint) {
                op.sum(key, n);
                return this;
              },
              commit: () => failing ? Promise.reject(new Error("database is locked")) : op.commit(),
            };
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    }) as Deno.Kv;
    const s = new StatsStore(flaky, (err) => errors.push(err));
    s.count("all", "", "requests", 5);
    assert.equal(countsOf(await s.read(), "all", "").requests, 5, "pending counts are visible");
    await s.flush();
    assert.equal(errors.length, 1);
    assert.equal(countsOf(await s.read(), "all", "").requests, 5, "kept after the failure");
    failing = false;
    await s.flush();
    assert.equal(countsOf(await new StatsStore(kv).read(), "all", "").requests, 5);
    assert.equal(countsOf(await s.read(), "all", "").requests, 5, "not counted twice");
  } finally {
    kv.close();
  }
});

Deno.test("minute buckets for the chart are deleted after two hours", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const s = new StatsStore(kv);
    const now = Date.now();
    s.minute(now - 3 * 3600_000, true);
    s.minute(now, false);
    await s.flush(now - 3 * 3600_000);
    await s.flush(now);
    const minutes = (await s.read()).minutes;
    assert.equal(minutes.size, 1);
    assert.deepEqual([...minutes.values()][0], { requests: 1, errors: 0 });
  } finally {
    kv.close();
  }
});

Deno.test("a read during a slow flush still sees the counts being written", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    // Commits take 50 ms, as on a busy KV.
    const slow = new Proxy(kv, {
      get(target, prop) {
        if (prop === "atomic") {
          return () => {
            const op = target.atomic();
            return {
              sum(key: Deno.KvKey, n: bigint) {
                op.sum(key, n);
                return this;
              },
              commit: async () => {
                await new Promise((r) => setTimeout(r, 50));
                return await op.commit();
              },
            };
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    }) as Deno.Kv;
    const s = new StatsStore(slow);
    s.count("all", "", "requests", 5);
    const flushing = s.flush();
    assert.equal(countsOf(await s.read(), "all", "").requests, 5);
    await flushing;
    assert.equal(countsOf(await s.read(), "all", "").requests, 5);
  } finally {
    kv.close();
  }
});
