import assert from "node:assert/strict";
import { ClientKeys } from "../../src/client_keys/service.ts";
import { KeyStore } from "../../src/client_keys/store.ts";
import { hashSecret, newSecret, secretHint } from "../../src/client_keys/secret.ts";
import type { KeyRecord } from "../../src/client_keys/settings.ts";
import { RequestRecord } from "../../src/observe/observer.ts";

const DAY = 86_400_000;

function record(secret: string, extra: Partial<KeyRecord> = {}): KeyRecord {
  return {
    id: "ck_test",
    label: "test",
    hash: hashSecret(secret),
    hint: secretHint(secret),
    enabled: true,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    ...extra,
  };
}

/** The KV each opened instance owns, closed with it. */
const kvOf = new WeakMap<ClientKeys, Deno.Kv>();

async function open(path: string, clock: { now: number }): Promise<ClientKeys> {
  const kv = await Deno.openKv(path);
  const keys = new ClientKeys({
    store: new KeyStore(kv, { now: () => clock.now }),
    kv,
    pricing: () => ({}),
    now: () => clock.now,
  });
  await keys.start(60_000);
  kvOf.set(keys, kv);
  return keys;
}

/** One finished request of the key: identified, admitted, answered with this usage. */
function serve(keys: ClientKeys, secret: string, input: number, output: number, status = 200) {
  const req = new Request("http://127.0.0.1/v1/chat/completions");
  assert.equal(keys.identify(req, [secret])?.kind, "key");
  const rec = new RequestRecord("openai", "demo", false);
  keys.admit(req, "demo", false, rec);
  rec.usage = { input, output };
  keys.attribute(rec, status);
}

Deno.test("usage: daily buckets roll over with the clock and survive a restart", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite3`;
  const clock = { now: Date.UTC(2026, 2, 10, 23, 59, 0) };
  const secret = newSecret();
  let keys = await open(path, clock);
  try {
    await keys.store.put(record(secret));
    serve(keys, secret, 10, 5);
    serve(keys, secret, 1, 1, 500);
    clock.now += 2 * 60_000; // past midnight UTC: a new day
    serve(keys, secret, 100, 50);
    await keys.close();
    kvOf.get(keys)?.close();

    keys = await open(path, clock);
    const key = keys.store.byId("ck_test");
    assert.ok(key);
    const usage = await keys.usage(key);
    assert.equal(usage.requests, 3);
    assert.equal(usage.errors, 1);
    assert.equal(usage.input_tokens, 111);
    assert.equal(usage.output_tokens, 56);
    assert.equal(usage.days.length, 30);
    const last = usage.days.at(-1)!;
    const before = usage.days.at(-2)!;
    assert.equal(last.date, "2026-03-11");
    assert.deepEqual([last.requests, last.input_tokens], [1, 100]);
    assert.equal(before.date, "2026-03-10");
    assert.deepEqual([before.requests, before.errors, before.input_tokens], [2, 1, 11]);
    assert.equal(usage.last_used_at, new Date(clock.now).toISOString());

    // Thirty days later the old days have left the window.
    clock.now += 30 * DAY;
    const later = await keys.usage(key);
    assert.ok(later.days.every((d) => d.requests === 0));
    assert.equal(later.requests, 3, "totals stay");
  } finally {
    await keys.close();
    kvOf.get(keys)?.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("budgets reset at the period's end; a restart starts from the shared totals", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite3`;
  // A Sunday evening (UTC): the weekly budget resets at Monday 00:00.
  const clock = { now: Date.UTC(2026, 2, 15, 22, 0, 0) };
  const secret = newSecret();
  let keys = await open(path, clock);
  try {
    await keys.store.put(record(secret, { budget: { period: "week", tokens: 100 } }));
    serve(keys, secret, 80, 30);
    const req = new Request("http://127.0.0.1/");
    keys.identify(req, [secret]);
    assert.throws(
      () => keys.admit(req, "demo", false, undefined),
      (e: Error & { code?: string; retryAfter?: number }) =>
        e.code === "insufficient_quota" && e.retryAfter === 2 * 3600,
    );
    await keys.close();
    kvOf.get(keys)?.close();

    keys = await open(path, clock);
    const again = new Request("http://127.0.0.1/");
    keys.identify(again, [secret]);
    assert.throws(() => keys.admit(again, "demo", false, undefined), /budget is spent/);
    clock.now += 2 * 3600_000;
    keys.admit(again, "demo", false, undefined);
  } finally {
    await keys.close();
    kvOf.get(keys)?.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("identify: disabled, expired and rotated-out keys are refused alike", async () => {
  const dir = await Deno.makeTempDir();
  const clock = { now: Date.UTC(2026, 0, 1) };
  const keys = await open(`${dir}/kv.sqlite3`, clock);
  try {
    const a = newSecret();
    const b = newSecret();
    await keys.store.put(record(a, { id: "ck_a", expires_at: "2026-01-02T00:00:00Z" }));
    await keys.store.put(
      record(b, {
        id: "ck_b",
        previous: { hash: hashSecret(a + "old"), until: "2026-01-01T00:01:00Z" },
      }),
    );
    const req = new Request("http://127.0.0.1/");
    assert.equal(keys.identify(req, ["Bearer-junk", a])?.kind, "key");
    assert.equal(keys.identify(req, [a + "old"])?.kind, "key", "within the grace period");
    assert.equal(keys.identify(req, ["sk-lp-unknown"]), undefined);
    clock.now += 2 * 60_000;
    assert.equal(keys.identify(req, [a + "old"])?.kind, "refused", "grace over");
    clock.now += DAY;
    assert.equal(keys.identify(req, [a])?.kind, "refused", "expired");
    await keys.store.put(record(b, { id: "ck_b", enabled: false }));
    assert.equal(keys.identify(req, [b])?.kind, "refused", "disabled");
  } finally {
    await keys.close();
    kvOf.get(keys)?.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a key index that cannot be read at start fails closed: keys are required", async () => {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  kv.close();
  const errors: unknown[] = [];
  const store = new KeyStore(kv, { onError: (e) => errors.push(e) });
  try {
    await store.start(60_000);
    assert.equal(errors.length, 1);
    assert.equal(store.any, true, "unknown until read: ask for a key");
    assert.equal(store.identify([newSecret()]), undefined);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
