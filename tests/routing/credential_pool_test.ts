import assert from "node:assert/strict";
import { Cooldowns } from "../../src/accounts/cooldowns.ts";
import { AccountManager } from "../../src/accounts/manager.ts";
import { AccountStore } from "../../src/accounts/store.ts";
import { validateConfig } from "../../src/config/load.ts";
import type { ProviderConfig } from "../../src/config/schema.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { QuotaBook } from "../../src/observe/quota.ts";
import { credentialIdOfKey, CredentialPool } from "../../src/routing/credential_pool.ts";
import { SessionAffinity, sessionKeyOf } from "../../src/routing/session_affinity.ts";
import { openAIChatFormat } from "../../src/formats/openai_chat/format.ts";

function provider(extra: Record<string, unknown>): ProviderConfig {
  return validateConfig({
    providers: [{ id: "p", type: "openai", base_url: "http://127.0.0.1:9/v1", ...extra }],
  }).providers[0];
}

async function withPool(
  fn: (
    pool: CredentialPool,
    parts: { cooldowns: Cooldowns; quota: QuotaBook; kv: Deno.Kv },
  ) => Promise<void>,
): Promise<void> {
  const path = await Deno.makeTempFile({ suffix: ".sqlite3" });
  const kv = await Deno.openKv(path);
  const accounts = new AccountManager({
    store: new AccountStore(kv),
    driverFor: () => undefined,
    logger: createLogger({ level: "error", write: () => {} }),
  });
  const cooldowns = new Cooldowns(kv);
  const quota = new QuotaBook();
  const pool = new CredentialPool({
    accounts,
    cooldowns,
    quota,
    affinity: new SessionAffinity(kv),
  });
  try {
    await fn(pool, { cooldowns, quota, kv });
  } finally {
    kv.close();
    await Deno.remove(path).catch(() => {});
  }
}

const signal = () => AbortSignal.timeout(5000);

Deno.test("round-robin over keys, skipping tried and benched ones; none left is undefined", async () => {
  await withPool(async (pool, { cooldowns }) => {
    const p = provider({ api_keys: ["k1", "k2", "k3"] });
    const picks = [];
    for (let i = 0; i < 6; i++) {
      picks.push((await pool.acquire(p, { tried: new Set(), signal }))!.apiKey);
    }
    assert.deepEqual(picks, ["k1", "k2", "k3", "k1", "k2", "k3"]);
    await cooldowns.coolDown("p", credentialIdOfKey("k2"), 60, "rate_limit");
    const tried = new Set([credentialIdOfKey("k1")]);
    const next = await pool.acquire(p, { tried, signal });
    assert.equal(next?.apiKey, "k3");
    tried.add(next!.id);
    assert.equal(await pool.acquire(p, { tried, signal }), undefined);
  });
});

Deno.test("fill-first keeps the first healthy key; headroom moves past an exhausted one", async () => {
  await withPool(async (pool, { quota }) => {
    const p = provider({ api_keys: ["k1", "k2"], strategy: "fill-first" });
    for (let i = 0; i < 3; i++) {
      assert.equal((await pool.acquire(p, { tried: new Set(), signal }))?.apiKey, "k1");
    }
    quota.record(
      "p",
      credentialIdOfKey("k1"),
      new Headers({
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "10s",
      }),
      200,
    );
    assert.equal((await pool.acquire(p, { tried: new Set(), signal }))?.apiKey, "k2");
  });
});

Deno.test("session strategy: a conversation keeps its key while it is healthy, then moves", async () => {
  await withPool(async (pool, { cooldowns }) => {
    const p = provider({ api_keys: ["k1", "k2", "k3"], strategy: "session" });
    const first = await pool.acquire(p, { tried: new Set(), session: "s1", signal });
    for (let i = 0; i < 4; i++) {
      const again = await pool.acquire(p, { tried: new Set(), session: "s1", signal });
      assert.equal(again?.id, first?.id);
    }
    await cooldowns.coolDown("p", first!.id, 60, "server");
    const moved = await pool.acquire(p, { tried: new Set(), session: "s1", signal });
    assert.notEqual(moved?.id, first?.id);
    const stays = await pool.acquire(p, { tried: new Set(), session: "s1", signal });
    assert.equal(stays?.id, moved?.id, "the new key is remembered");
  });
});

Deno.test("panic candidate: the server-ejected key whose ejection ends first; never a rate-limited one", async () => {
  await withPool(async (pool, { cooldowns }) => {
    const p = provider({ api_keys: ["k1", "k2", "k3"] });
    await cooldowns.coolDown("p", credentialIdOfKey("k1"), 90, "server");
    await cooldowns.coolDown("p", credentialIdOfKey("k2"), 30, "server");
    await cooldowns.coolDown("p", credentialIdOfKey("k3"), 5, "rate_limit");
    assert.equal(await pool.acquire(p, { tried: new Set(), signal }), undefined);
    const pick = await pool.panicCandidate(p, new Set());
    assert.equal(pick?.id, credentialIdOfKey("k2"));
    const second = await pool.panicCandidate(p, new Set([credentialIdOfKey("k2")]));
    assert.equal(second?.id, credentialIdOfKey("k1"));
    const exact = await pool.acquireExact(p, pick!.id, signal);
    assert.equal(exact?.apiKey, "k2");
  });
});

Deno.test("keys added through the admin API join the config's keys in one rotation", async () => {
  await withPool(async (pool, { kv }) => {
    const store = new AccountStore(kv);
    await store.create({
      id: "stored",
      provider: "p",
      enabled: true,
      status: "active",
      credential: { kind: "api_key", api_key: "k-stored" },
      created_at: Date.now(),
      updated_at: Date.now(),
    });
    const p = provider({ api_keys: ["k1"] });
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      seen.add((await pool.acquire(p, { tried: new Set(), signal }))!.apiKey!);
    }
    assert.deepEqual([...seen].sort(), ["k-stored", "k1"]);
    assert.equal(await pool.size(p), 2);
  });
});

Deno.test("session key: a session header, else the request's prompt_cache_key, else the opening's hash", () => {
  const ir = openAIChatFormat.toIr({
    model: "m",
    prompt_cache_key: "codex-conversation-1",
    messages: [{ role: "user", content: "hi" }],
  }, {});
  assert.equal(sessionKeyOf(new Headers({ "x-session-id": "s9" }), ir), "h:s9");
  assert.equal(sessionKeyOf(new Headers(), ir), "k:codex-conversation-1");
  const plain = openAIChatFormat.toIr(
    { model: "m", messages: [{ role: "user", content: "hi" }] },
    {},
  );
  assert.match(sessionKeyOf(new Headers(), plain), /^c:[0-9a-f]+$/);
});
