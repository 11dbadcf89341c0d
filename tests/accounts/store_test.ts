import assert from "node:assert/strict";
import { SecretBox } from "../../src/accounts/secret_box.ts";
import { AccountStore, UnreadableAccountError } from "../../src/accounts/store.ts";
import type { Account } from "../../src/accounts/types.ts";

function oauthAccount(id: string): Account {
  const now = Date.now();
  return {
    id,
    provider: "gcli",
    enabled: true,
    status: "active",
    credential: {
      kind: "oauth",
      access_token: "ya29.secret-access-token-123",
      refresh_token: "1//secret-refresh-token-456",
      expiry_date: now + 3600_000,
    },
    created_at: now,
    updated_at: now,
  };
}

async function withKv(fn: (kv: Deno.Kv, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite3`;
  const kv = await Deno.openKv(path);
  try {
    await fn(kv, path);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("accounts survive a reopen of the same KV file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite3`;
  try {
    const kv = await Deno.openKv(path);
    const store = new AccountStore(kv);
    assert.ok(await store.create(oauthAccount("a1")));
    assert.equal(await store.create(oauthAccount("a1")), false, "ids are unique");
    kv.close();
    const again = await Deno.openKv(path);
    try {
      const list = await new AccountStore(again).list("gcli");
      assert.equal(list.length, 1);
      assert.equal(list[0].account.credential.kind, "oauth");
    } finally {
      again.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replace is compare-and-set on the versionstamp", async () => {
  await withKv(async (kv) => {
    const store = new AccountStore(kv);
    await store.create(oauthAccount("a1"));
    const read = await store.get("gcli", "a1");
    assert.ok(read);
    const first = await store.replace({ ...read.account, label: "one" }, read.versionstamp);
    assert.ok(first, "the first writer wins");
    const second = await store.replace({ ...read.account, label: "two" }, read.versionstamp);
    assert.equal(second, null, "a stale writer is refused");
    assert.equal((await store.get("gcli", "a1"))?.account.label, "one");
  });
});

Deno.test("with KV_ENCRYPTION_KEY the stored record holds no secret in clear", async () => {
  await withKv(async (kv) => {
    const store = new AccountStore(kv, { box: new SecretBox("a-long-random-test-key-1") });
    await store.create(oauthAccount("a1"));
    const raw = await kv.get(["accounts", "gcli", "a1"]);
    const text = JSON.stringify(raw.value);
    assert.ok(!text.includes("secret-access-token"), "access token sealed");
    assert.ok(!text.includes("secret-refresh-token"), "refresh token sealed");
    const back = await store.get("gcli", "a1");
    assert.equal(
      back?.account.credential.kind === "oauth" && back.account.credential.refresh_token,
      "1//secret-refresh-token-456",
    );

    // Without the key, or with another key, the record cannot be read.
    await assert.rejects(new AccountStore(kv).get("gcli", "a1"), UnreadableAccountError);
    await assert.rejects(
      new AccountStore(kv, { box: new SecretBox("another-key") }).get("gcli", "a1"),
      UnreadableAccountError,
    );
    const skipped: string[] = [];
    const list = await new AccountStore(kv).list("gcli", (e) => skipped.push(e.message));
    assert.equal(list.length, 0);
    assert.equal(skipped.length, 1);
  });
});

Deno.test("update retries on conflicting writers and applies every change", async () => {
  await withKv(async (kv) => {
    const store = new AccountStore(kv);
    const base = oauthAccount("a1");
    await store.create({ ...base, label: "0" });
    await Promise.all(
      Array.from(
        { length: 5 },
        () => store.update("gcli", "a1", (a) => ({ ...a, label: String(Number(a.label) + 1) })),
      ),
    );
    assert.equal((await store.get("gcli", "a1"))?.account.label, "5");
  });
});
