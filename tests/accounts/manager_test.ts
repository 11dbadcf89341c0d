import assert from "node:assert/strict";
import { AccountManager } from "../../src/accounts/manager.ts";
import { AccountStore } from "../../src/accounts/store.ts";
import {
  type Account,
  type Credential,
  type CredentialDriver,
  type OAuthCredential,
  RefreshRejectedError,
  type RefreshResult,
} from "../../src/accounts/types.ts";
import { validateConfig } from "../../src/config/load.ts";
import type { ProviderConfig } from "../../src/config/schema.ts";
import { GatewayError } from "../../src/errors.ts";
import { createLogger } from "../../src/observe/logger.ts";

/**
 * A provider that rotates refresh tokens like Qwen: each refresh answers a new refresh token
 * and the old one stops working. Refreshes take `delayMs`, so concurrent callers overlap.
 */
class RotatingProvider {
  current = "rt-0";
  calls = 0;
  revoked = false;
  delayMs = 30;

  driver(): CredentialDriver {
    return {
      type: "test-oauth",
      parseCredential: (body) => body as Credential,
      refresh: async (cred): Promise<RefreshResult> => {
        const n = ++this.calls;
        // The server checks and rotates when the request arrives, then answers later.
        const used = (cred as OAuthCredential).refresh_token;
        const ok = !this.revoked && used === this.current;
        if (ok) this.current = `rt-${n}`;
        await new Promise((r) => setTimeout(r, this.delayMs));
        if (!ok) throw new RefreshRejectedError("invalid_grant: token revoked");
        return {
          access_token: `at-${n}`,
          refresh_token: `rt-${n}`,
          expiry_date: Date.now() + 3600_000,
        };
      },
    };
  }
}

const provider: ProviderConfig = validateConfig({
  providers: [{ id: "p", type: "qwen", models: ["m"] }],
}).providers[0];

function account(id: string, expiresInMs: number, refreshToken = "rt-0"): Account {
  const now = Date.now();
  return {
    id,
    provider: "p",
    enabled: true,
    status: "active",
    credential: {
      kind: "oauth",
      access_token: `at-initial-${id}`,
      refresh_token: refreshToken,
      expiry_date: now + expiresInMs,
    },
    created_at: now,
    updated_at: now,
  };
}

function manager(kv: Deno.Kv, fake: RotatingProvider): AccountManager {
  return new AccountManager({
    store: new AccountStore(kv),
    driverFor: (t) => (t === "qwen" ? fake.driver() : undefined),
    logger: createLogger({ level: "error", write: () => {} }),
  });
}

Deno.test("10 concurrent requests at expiry cause exactly one refresh", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const fake = new RotatingProvider();
    const m = manager(kv, fake);
    await m.store.create(account("a", 60_000)); // inside the 5-minute margin
    const leases = await Promise.all(
      Array.from({ length: 10 }, () => m.lease(provider, AbortSignal.timeout(5000))),
    );
    assert.equal(fake.calls, 1);
    assert.ok(leases.every((l) => l.accessToken === "at-1"));
    const stored = await m.store.get("p", "a");
    assert.equal((stored?.account.credential as OAuthCredential).refresh_token, "rt-1");
  } finally {
    kv.close();
  }
});

Deno.test("a fresh token is used without refreshing", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const fake = new RotatingProvider();
    const m = manager(kv, fake);
    await m.store.create(account("a", 3600_000));
    const lease = await m.lease(provider, AbortSignal.timeout(5000));
    assert.equal(lease.accessToken, "at-initial-a");
    assert.equal(fake.calls, 0);
  } finally {
    kv.close();
  }
});

Deno.test("two instances refreshing one rotating account at once lose nothing", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const fake = new RotatingProvider();
    // Two managers = two gateway processes sharing one KV, each with its own single-flight.
    const m1 = manager(kv, fake);
    const m2 = manager(kv, fake);
    await m1.store.create(account("a", 0));
    const [a, b] = await Promise.all([
      m1.refresh(provider, "a", { force: false }),
      m2.refresh(provider, "a", { force: false }),
    ]);
    const stored = (await m1.store.get("p", "a"))?.account;
    assert.ok(stored);
    assert.equal(stored.status, "active", "the loser of the race does not mark the account failed");
    assert.equal(
      (stored.credential as OAuthCredential).refresh_token,
      fake.current,
      "the stored refresh token is the provider's current one",
    );
    assert.equal((a.credential as OAuthCredential).access_token, "at-1");
    assert.equal((b.credential as OAuthCredential).access_token, "at-1");
    assert.equal(fake.calls, 1, "the KV refresh lease lets only one instance call the provider");
  } finally {
    kv.close();
  }
});

Deno.test("a revoked refresh token marks the account and routing moves to the next one", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const fake = new RotatingProvider();
    const m = manager(kv, fake);
    await m.store.create(account("bad", 0, "rt-revoked"));
    await m.store.create({ ...account("good", 3600_000), created_at: Date.now() + 1 });
    const lease = await m.lease(provider, AbortSignal.timeout(5000));
    assert.equal(lease.id, "good");
    const bad = (await m.store.get("p", "bad"))?.account;
    assert.equal(bad?.status, "refresh_failed");
    assert.match(bad?.last_error ?? "", /invalid_grant/);
    // Never deleted, and skipped from now on.
    const next = await m.lease(provider, AbortSignal.timeout(5000));
    assert.equal(next.id, "good");
    await m.store.update("p", "good", (a) => ({ ...a, enabled: false }));
    m.invalidate("p");
    await assert.rejects(m.lease(provider, AbortSignal.timeout(5000)), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.status, 503);
      assert.equal(err.code, "no_usable_account");
      return true;
    });
  } finally {
    kv.close();
  }
});

Deno.test("the refresh job refreshes what is due and skips the rest", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const fake = new RotatingProvider();
    const m = manager(kv, fake);
    await m.store.create(account("due", 2 * 3600_000));
    await m.store.create(account("later", 8 * 3600_000, "rt-other"));
    await m.store.create({ ...account("off", 0, "rt-off"), enabled: false });
    const results = await m.runRefreshJob([provider], 6 * 3600_000);
    const byId = Object.fromEntries(results.map((r) => [r.id, r.result]));
    assert.deepEqual(byId, { due: "refreshed", later: "skipped", off: "skipped" });
    assert.equal(fake.calls, 1);
  } finally {
    kv.close();
  }
});
