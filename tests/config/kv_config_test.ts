import assert from "node:assert/strict";
import { SecretBox } from "../../src/accounts/secret_box.ts";
import { HISTORY_LIMIT, KvConfigStore, SealedConfigError } from "../../src/config/kv_config.ts";

Deno.test("KvConfigStore: versions grow, history keeps every version, If-Match conflicts", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvConfigStore(kv);
    assert.equal(await store.current(), null);
    const v1 = await store.put({ port: 1 }, 0);
    assert.ok(v1.ok && v1.entry.version === 1);
    const v2 = await store.put({ port: 2 });
    assert.ok(v2.ok && v2.entry.version === 2);
    const stale = await store.put({ port: 3 }, 1);
    assert.deepEqual(stale, { ok: false, reason: "conflict", current: 2 });
    assert.deepEqual((await store.current())?.config, { port: 2 });
    assert.deepEqual((await store.history()).map((e) => e.version), [2, 1]);
    assert.deepEqual(
      await kv.get(["config", "history", 1]).then((e) => e.versionstamp !== null),
      true,
    );
  } finally {
    kv.close();
  }
});

Deno.test("KvConfigStore: of concurrent writers on one version exactly one wins", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvConfigStore(kv);
    await store.put({ port: 1 });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.put({ port: 100 + i }, 1)),
    );
    assert.equal(results.filter((r) => r.ok).length, 1);
    assert.equal((await store.current())?.version, 2);
  } finally {
    kv.close();
  }
});

Deno.test("KvConfigStore: rollback copies an earlier version forward; nothing before v1", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvConfigStore(kv);
    assert.deepEqual(await store.rollback(), { ok: false, reason: "no_previous" });
    await store.put({ port: 1 });
    assert.deepEqual(await store.rollback(), { ok: false, reason: "no_previous" });
    await store.put({ port: 2 });
    const back = await store.rollback();
    assert.ok(back.ok);
    assert.equal(back.entry.version, 3);
    assert.equal(back.entry.rolled_back_to, 1);
    assert.deepEqual(back.entry.config, { port: 1 });
    const explicit = await store.rollback(2);
    assert.ok(explicit.ok && explicit.entry.config.port === 2);
    assert.deepEqual(await store.rollback(99), { ok: false, reason: "no_such_version" });
  } finally {
    kv.close();
  }
});

Deno.test("KvConfigStore: history is bounded", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvConfigStore(kv);
    for (let i = 0; i < HISTORY_LIMIT + 5; i++) await store.put({ port: i });
    const versions = (await store.history()).map((e) => e.version);
    assert.equal(versions.length, HISTORY_LIMIT);
    assert.equal(versions[0], HISTORY_LIMIT + 5);
  } finally {
    kv.close();
  }
});

Deno.test("KvConfigStore.follow reports another writer's change, not the known version", async () => {
  const dir = await Deno.makeTempDir();
  const a = await Deno.openKv(`${dir}/kv.sqlite3`);
  const b = await Deno.openKv(`${dir}/kv.sqlite3`);
  try {
    await new KvConfigStore(a).put({ port: 1 });
    const seen: number[] = [];
    const f = new KvConfigStore(b).follow(1, (e) => seen.push(e?.version ?? 0), { pollMs: 20 });
    try {
      await new KvConfigStore(a).put({ port: 2 });
      for (let i = 0; i < 100 && seen.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(seen, [2]);
    } finally {
      await f.close();
    }
  } finally {
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvConfigStore with a SecretBox: sealed in KV, opened on read and follow; a wrong key is named", async () => {
  const dir = await Deno.makeTempDir();
  const a = await Deno.openKv(`${dir}/kv.sqlite3`);
  const b = await Deno.openKv(`${dir}/kv.sqlite3`);
  const secret = { auth: { admin_token: "tok-sealed-91" }, providers: [] };
  try {
    const writer = new KvConfigStore(a, { box: new SecretBox("key-1") });
    await writer.put(secret);
    const raw = JSON.stringify((await a.get(["config", "current"])).value);
    assert.ok(!raw.includes("tok-sealed-91") && raw.includes('"sealed":"v1.'), raw);
    assert.deepEqual((await writer.current())?.config, secret);
    const seen: unknown[] = [];
    const errors: unknown[] = [];
    const same = new KvConfigStore(b, { box: new SecretBox("key-1") })
      .follow(1, (e) => seen.push(e?.config), { pollMs: 20 });
    const wrong = new KvConfigStore(b, { box: new SecretBox("key-2") })
      .follow(1, () => seen.push("wrong key applied"), {
        pollMs: 20,
        onError: (err) => errors.push(err),
      });
    try {
      await writer.put({ ...secret, port: 2 });
      for (let i = 0; i < 100 && (seen.length === 0 || errors.length === 0); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(seen, [{ ...secret, port: 2 }]);
      assert.ok(errors[0] instanceof SealedConfigError);
    } finally {
      await same.close();
      await wrong.close();
    }
    await assert.rejects(new KvConfigStore(b).current(), SealedConfigError);
    // Writes need only the version: a new version can still be stored over a sealed one.
    const plain = await new KvConfigStore(b).put({ port: 3 });
    assert.ok(plain.ok && plain.entry.version === 3);
  } finally {
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});
