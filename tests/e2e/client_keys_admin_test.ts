import assert from "node:assert/strict";
import { startTestGateway } from "./start_gateway.ts";
import { adminCall, ask, keysConfig, OPERATOR } from "./client_keys_helpers.ts";

Deno.test("managed keys: create, use, rotate, old secret refused, revoke", async () => {
  const dir = await Deno.makeTempDir();
  const gw = await startTestGateway(keysConfig(), { kvPath: `${dir}/kv.sqlite3` });
  try {
    const created = await adminCall(gw.url, "POST", "/admin/keys", {
      label: "alice",
      models: ["demo"],
    });
    assert.equal(created.status, 201);
    const secret = created.json.key as string;
    const id = created.json.id as string;
    assert.match(secret, /^sk-lp-[A-Za-z0-9_-]{43}$/, "prefix and 256 bits in base64url");
    assert.equal(created.json.label, "alice");
    assert.equal(created.json.hash, undefined, "the hash is never shown");
    assert.equal(created.json.hint, `sk-lp-…${secret.slice(-4)}`);

    // Lists and reads are masked: the secret appears nowhere.
    const list = await adminCall(gw.url, "GET", "/admin/keys");
    assert.equal(list.status, 200);
    assert.ok(!JSON.stringify(list.json).includes(secret.slice(6)));
    assert.equal((list.json.keys as unknown[]).length, 1);
    const one = await adminCall(gw.url, "GET", `/admin/keys/${id}`);
    assert.equal(one.json.label, "alice");
    assert.ok(!JSON.stringify(one.json).includes(secret.slice(6)));

    // Use: the managed key and the operator key work; none, or a wrong one, does not.
    let res = await ask(gw.url, "chat", secret);
    assert.equal(res.status, 200, await res.clone().text());
    await res.body?.cancel();
    res = await ask(gw.url, "chat", OPERATOR);
    assert.equal(res.status, 200);
    await res.body?.cancel();
    res = await ask(gw.url, "chat", "sk-lp-" + "A".repeat(43));
    assert.equal(res.status, 401);
    await res.body?.cancel();

    // A managed key never reaches the admin API.
    const asClient = await adminCall(gw.url, "GET", "/admin/keys", undefined, secret);
    assert.equal(asClient.status, 401);
    const asClient2 = await adminCall(gw.url, "GET", "/admin/stats", undefined, secret);
    assert.equal(asClient2.status, 401);

    // Rotate without grace: the old secret is refused at once, the new one works.
    const rotated = await adminCall(gw.url, "POST", `/admin/keys/${id}/rotate`);
    assert.equal(rotated.status, 200);
    const second = rotated.json.key as string;
    assert.notEqual(second, secret);
    assert.equal(rotated.json.id, id);
    res = await ask(gw.url, "chat", secret);
    assert.equal(res.status, 401);
    await res.body?.cancel();
    res = await ask(gw.url, "anthropic", second);
    assert.equal(res.status, 200);
    await res.body?.cancel();

    // Rotate with a grace period: both work until it ends.
    const graced = await adminCall(gw.url, "POST", `/admin/keys/${id}/rotate`, {
      grace_seconds: 60,
    });
    const third = graced.json.key as string;
    assert.ok(typeof graced.json.previous_valid_until === "string");
    for (const k of [second, third]) {
      res = await ask(gw.url, "gemini", k);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }

    // Disable: the same 401 as an unknown key; enable again.
    const off = await adminCall(gw.url, "PATCH", `/admin/keys/${id}`, { enabled: false });
    assert.equal(off.status, 200);
    res = await ask(gw.url, "chat", third);
    const disabledBody = await res.text();
    assert.equal(res.status, 401);
    res = await ask(gw.url, "chat", "sk-lp-unknown-key");
    assert.equal(await res.text(), disabledBody, "disabled and unknown look alike");
    await adminCall(gw.url, "PATCH", `/admin/keys/${id}`, { enabled: true, label: "alice-2" });
    res = await ask(gw.url, "chat", third);
    assert.equal(res.status, 200);
    await res.body?.cancel();

    // Invalid settings are a 400 naming the field.
    const bad = await adminCall(gw.url, "PATCH", `/admin/keys/${id}`, { rpm: -1 });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.json), /rpm/);

    // The request log names the key by label.
    await gw.observer.flush();
    const logs = await adminCall(gw.url, "GET", "/admin/logs?limit=50");
    const entries = logs.json.entries as { client_key?: string | null }[];
    assert.ok(entries.some((e) => e.client_key === "alice"));
    assert.ok(entries.some((e) => e.client_key === "alice-2"));
    assert.ok(!JSON.stringify(logs.json).includes(third.slice(6)));

    // Usage: every request of the key, errors included.
    const usage = await adminCall(gw.url, "GET", `/admin/keys/${id}/usage`);
    assert.equal(usage.status, 200);
    assert.equal(usage.json.requests, 5);
    assert.equal(usage.json.errors, 0);
    assert.ok((usage.json.input_tokens as number) > 0);
    assert.ok((usage.json.output_tokens as number) > 0);
    assert.equal((usage.json.days as unknown[]).length, 30);
    assert.ok(typeof usage.json.last_used_at === "string");

    // Revoke: refused from then on, and gone from the API.
    const del = await adminCall(gw.url, "DELETE", `/admin/keys/${id}`);
    assert.equal(del.status, 200);
    res = await ask(gw.url, "chat", third);
    assert.equal(res.status, 401);
    await res.body?.cancel();
    assert.equal((await adminCall(gw.url, "GET", `/admin/keys/${id}`)).status, 404);
    assert.equal((await adminCall(gw.url, "DELETE", `/admin/keys/${id}`)).status, 404);
  } finally {
    await gw.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("managed keys: an open gateway asks for a key once a managed key exists", async () => {
  const gw = await startTestGateway({ ...keysConfig(), auth: { admin_token: "adm" } });
  try {
    let res = await ask(gw.url, "chat", "");
    assert.equal(res.status, 200, "open while no managed key exists");
    await res.body?.cancel();
    const { secret } = await (async () => {
      const r = await fetch(`${gw.url}/admin/keys`, {
        method: "POST",
        headers: { authorization: "Bearer adm" },
        body: JSON.stringify({ label: "bob" }),
      });
      return { secret: (await r.json()).key as string };
    })();
    res = await ask(gw.url, "chat", "");
    assert.equal(res.status, 401);
    await res.body?.cancel();
    res = await ask(gw.url, "chat", secret);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  } finally {
    await gw.close();
  }
});

Deno.test("/metrics: per-key series for the busiest keys, the rest summed as other", async () => {
  const gw = await startTestGateway(keysConfig({ client_keys: { sync_ms: 200, metrics_top: 2 } }));
  try {
    const keys = [];
    for (const [label, n] of [["busy", 3], ["middle", 2], ["quiet", 1], ["quieter", 1]] as const) {
      const r = await adminCall(gw.url, "POST", "/admin/keys", { label });
      keys.push({ label, id: r.json.id as string });
      for (let i = 0; i < n; i++) {
        const res = await ask(gw.url, "chat", r.json.key as string);
        await res.body?.cancel();
      }
    }
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const requests = text.split("\n").filter((l) =>
      l.startsWith("llm_proxy_client_key_requests_total{")
    );
    assert.deepEqual(requests, [
      `llm_proxy_client_key_requests_total{key="${keys[0].id}",label="busy"} 3`,
      `llm_proxy_client_key_requests_total{key="${keys[1].id}",label="middle"} 2`,
      `llm_proxy_client_key_requests_total{key="other",label="other"} 2`,
    ]);
    assert.match(
      text,
      /llm_proxy_client_key_tokens_total\{key="other",label="other",kind="input"\} \d+/,
    );
    assert.match(text, /^llm_proxy_requests_total/m, "the gateway's own series are still there");
  } finally {
    await gw.close();
  }
});
