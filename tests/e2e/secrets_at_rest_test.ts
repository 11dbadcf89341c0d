/**
 * Secrets at rest (issue 19, item 1): with KV_ENCRYPTION_KEY every secret the gateway keeps
 * in KV is sealed (accounts, stored API keys, the stored config and its history), records from
 * before the key are sealed at start, a missing or wrong key shows instead of hiding accounts,
 * and `deno task rekey` moves everything to a new key. Real KV files in a temp directory.
 */
import assert from "node:assert/strict";
import { SEALED_STATUS } from "../../src/admin/credentials.ts";
import { REPO } from "./gateway_process.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

const ADMIN = "admin-at-rest-0b7d2c";
const KEY_A = "kv-key-a-2f8e1c9d";
const KEY_B = "kv-key-b-77a01e3b";
/** Every secret the stored config carries, one per kind of field. */
const SECRETS = {
  providerKey: "sk-upstream-provider-secret-91c2",
  clientKey: "sk-client-at-rest-secret-4e7a",
  admin: ADMIN,
  header: "Bearer hdr-secret-value-6d1f",
  clientSecret: "oauth-client-secret-3b9e",
  storedKey: "sk-stored-account-secret-5a0c",
};
const FILE_CONFIG = {
  auth: { admin_token: ADMIN },
  providers: [{ id: "oa", type: "openai", base_url: "http://127.0.0.1:9/v1", models: ["m"] }],
};

function storedConfig(model: string): Record<string, unknown> {
  return {
    auth: { admin_token: ADMIN, api_keys: [SECRETS.clientKey] },
    providers: [
      {
        id: "oa",
        type: "openai",
        base_url: "http://127.0.0.1:9/v1",
        api_keys: [SECRETS.providerKey],
        headers: { "x-upstream-auth": SECRETS.header },
        models: [model],
      },
      {
        id: "gcli",
        type: "gemini-cli",
        client_secret: SECRETS.clientSecret,
        models: ["gemini-2.5-pro"],
      },
    ],
  };
}

const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };

async function putConfig(gw: TestGateway, model: string): Promise<void> {
  const res = await fetch(`${gw.url}/admin/config`, {
    method: "PUT",
    headers: admin,
    body: JSON.stringify(storedConfig(model)),
  });
  assert.equal(res.status, 200, await res.clone().text());
  await res.body?.cancel();
}

async function addStoredKey(gw: TestGateway): Promise<string> {
  const res = await fetch(`${gw.url}/admin/credentials/oa`, {
    method: "POST",
    headers: admin,
    body: JSON.stringify({ api_key: SECRETS.storedKey, label: "stored" }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

interface Listed {
  id: string;
  status: string;
  kind: string;
  secret: string;
}

async function listAccounts(gw: TestGateway): Promise<Listed[]> {
  const res = await fetch(`${gw.url}/admin/credentials`, { headers: admin });
  assert.equal(res.status, 200);
  return ((await res.json()) as { accounts: Listed[] }).accounts;
}

/** Every secret found in clear anywhere in the KV file, as `key: secret`. */
async function secretsInClear(kvPath: string): Promise<string[]> {
  const kv = await Deno.openKv(kvPath);
  const found: string[] = [];
  try {
    for await (const e of kv.list({ prefix: [] })) {
      const text = JSON.stringify(e.value);
      for (const s of Object.values(SECRETS)) {
        if (text.includes(s)) found.push(`${e.key.join("/")}: ${s}`);
      }
    }
  } finally {
    kv.close();
  }
  return found;
}

async function withKvFile(fn: (kvPath: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-at-rest-" });
  try {
    await fn(`${dir}/kv.sqlite3`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function modelsOf(gw: TestGateway): Promise<string[]> {
  const res = await fetch(`${gw.url}/v1/models`, {
    headers: { authorization: `Bearer ${SECRETS.clientKey}` },
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    return [];
  }
  return ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id);
}

Deno.test("with KV_ENCRYPTION_KEY: PUT /admin/config seals every secret, current and history", async () => {
  await withKvFile(async (kvPath) => {
    const gw = await startTestGateway(FILE_CONFIG, { kvPath, encryptionKey: KEY_A });
    try {
      await putConfig(gw, "model-v1");
      await putConfig(gw, "model-v2");
      await addStoredKey(gw);
      // Reads unseal transparently: applied, listed in history, masked in GET.
      assert.ok((await modelsOf(gw)).includes("model-v2"));
      const history = await (await fetch(`${gw.url}/admin/config/history`, { headers: admin }))
        .json() as { versions: { version: number }[] };
      assert.deepEqual(history.versions.map((v) => v.version), [2, 1]);
      const rollback = await fetch(`${gw.url}/admin/config/rollback`, {
        method: "POST",
        headers: admin,
      });
      assert.equal(rollback.status, 200);
      await rollback.body?.cancel();
      assert.ok((await modelsOf(gw)).includes("model-v1"));
    } finally {
      await gw.close();
    }
    assert.deepEqual(await secretsInClear(kvPath), []);
    // A restart with the key reads the sealed config back.
    const again = await startTestGateway(FILE_CONFIG, { kvPath, encryptionKey: KEY_A });
    try {
      assert.equal(again.layers.kvVersion, 3);
      assert.ok((await modelsOf(again)).includes("model-v1"));
    } finally {
      await again.close();
    }
  });
});

Deno.test("key missing or wrong: sealed accounts listed as sealed, config left out with a warning", async () => {
  await withKvFile(async (kvPath) => {
    const gw = await startTestGateway(FILE_CONFIG, { kvPath, encryptionKey: KEY_A });
    let id: string;
    try {
      id = await addStoredKey(gw);
      await putConfig(gw, "model-sealed");
    } finally {
      await gw.close();
    }
    for (const encryptionKey of [undefined, KEY_B]) {
      const other = await startTestGateway(FILE_CONFIG, { kvPath, encryptionKey });
      try {
        const listed = (await listAccounts(other)).find((a) => a.id === id);
        assert.ok(listed, `the sealed account is listed (key ${encryptionKey ?? "missing"})`);
        assert.equal(listed.status, SEALED_STATUS);
        assert.equal(listed.kind, "sealed");
        assert.equal(listed.secret, "****");
        // An action that needs the credential is a clear 409, not a 500.
        const patch = await fetch(`${other.url}/admin/credentials/oa/${id}`, {
          method: "PATCH",
          headers: admin,
          body: JSON.stringify({ label: "x" }),
        });
        assert.equal(patch.status, 409);
        await patch.body?.cancel();
        // The stored config is not applied; GET says why.
        assert.equal(other.layers.kvVersion, 0);
        assert.match(other.logs.join("\n"), /sealed; KV_ENCRYPTION_KEY missing or wrong/);
        const cfg = await (await fetch(`${other.url}/admin/config`, { headers: admin })).json();
        assert.match(cfg.stored_status, /sealed; KV_ENCRYPTION_KEY missing or wrong/);
      } finally {
        await other.close();
      }
    }
  });
});

Deno.test("without the key a warning at start; records stored then are sealed once the key is set", async () => {
  await withKvFile(async (kvPath) => {
    const clear = await startTestGateway(FILE_CONFIG, { kvPath });
    let id: string;
    try {
      assert.equal(
        clear.logs.filter((l) => /KV_ENCRYPTION_KEY is not set/.test(l)).length,
        1,
        "warned once",
      );
      id = await addStoredKey(clear);
      await putConfig(clear, "model-clear-1");
      await putConfig(clear, "model-clear-2");
    } finally {
      await clear.close();
    }
    assert.ok((await secretsInClear(kvPath)).length > 0, "stored in clear without the key");
    const sealed = await startTestGateway(FILE_CONFIG, { kvPath, encryptionKey: KEY_A });
    try {
      assert.match(sealed.logs.join("\n"), /sealed 4 KV records stored in clear/);
      assert.ok(!sealed.logs.some((l) => /KV_ENCRYPTION_KEY is not set/.test(l)));
      const listed = (await listAccounts(sealed)).find((a) => a.id === id);
      assert.equal(listed?.status, "active");
      assert.ok((await modelsOf(sealed)).includes("model-clear-2"));
    } finally {
      await sealed.close();
    }
    assert.deepEqual(await secretsInClear(kvPath), []);
  });
});

Deno.test("deno task rekey moves every record to the new key", async () => {
  await withKvFile(async (kvPath) => {
    const gw = await startTestGateway(FILE_CONFIG, { kvPath, encryptionKey: KEY_A });
    let id: string;
    try {
      id = await addStoredKey(gw);
      await putConfig(gw, "model-rekey-1");
      await putConfig(gw, "model-rekey-2");
    } finally {
      await gw.close();
    }
    const run = (env: Record<string, string>) =>
      new Deno.Command(Deno.execPath(), {
        args: ["task", "--quiet", "rekey"],
        cwd: REPO,
        env: { NO_COLOR: "1", KV_PATH: kvPath, KV_ENCRYPTION_KEY: "", ...env },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const missing = await run({ OLD_KV_ENCRYPTION_KEY: KEY_A, NEW_KV_ENCRYPTION_KEY: "" });
    assert.equal(missing.code, 2);
    const out = await run({ OLD_KV_ENCRYPTION_KEY: KEY_A, NEW_KV_ENCRYPTION_KEY: KEY_B });
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    // One account, current config and two history versions.
    assert.match(text, /4 re-encrypted, 0 sealed \(were in clear\), 0 already/);
    assert.ok(!text.includes(SECRETS.storedKey) && !text.includes(KEY_B));
    // Run again: nothing left to do.
    const again = await run({ OLD_KV_ENCRYPTION_KEY: KEY_A, NEW_KV_ENCRYPTION_KEY: KEY_B });
    assert.match(new TextDecoder().decode(again.stdout), /0 re-encrypted.*4 already/);
    assert.deepEqual(await secretsInClear(kvPath), []);

    const withNew = await startTestGateway(FILE_CONFIG, { kvPath, encryptionKey: KEY_B });
    try {
      assert.equal((await listAccounts(withNew)).find((a) => a.id === id)?.status, "active");
      assert.ok((await modelsOf(withNew)).includes("model-rekey-2"));
      const history = await (await fetch(`${withNew.url}/admin/config/history`, {
        headers: admin,
      })).json() as { versions: unknown[] };
      assert.equal(history.versions.length, 2);
    } finally {
      await withNew.close();
    }
    const withOld = await startTestGateway(FILE_CONFIG, { kvPath, encryptionKey: KEY_A });
    try {
      assert.equal((await listAccounts(withOld)).find((a) => a.id === id)?.status, SEALED_STATUS);
    } finally {
      await withOld.close();
    }
  });
});
