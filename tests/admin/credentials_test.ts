import assert from "node:assert/strict";
import OpenAI from "openai";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startTestGateway } from "../e2e/start_gateway.ts";

const ADMIN = "admin-token-for-tests-0001";

async function setup(adminToken: string | null = ADMIN) {
  const upstream = await startFakeOpenAI();
  const gateway = await startTestGateway({
    auth: {
      api_keys: ["sk-client-admin-test"],
      ...(adminToken ? { admin_token: adminToken } : {}),
    },
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${upstream.url}/v1`,
      api_keys: ["sk-up-from-config-aaaa"],
      models: ["fake-gpt"],
    }, { id: "demo", type: "echo", models: ["demo"] }],
  });
  const admin = (path: string, init: RequestInit = {}, token: string | null = ADMIN) =>
    fetch(`${gateway.url}/admin${path}`, {
      ...init,
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(init.headers ?? {}),
      },
    });
  return {
    upstream,
    gateway,
    admin,
    async close() {
      await gateway.close();
      await upstream.close();
    },
  };
}

Deno.test("admin API: 401 without or with a wrong token, 403 when no admin token is set", async () => {
  const t = await setup();
  try {
    for (const token of [null, "wrong-token", "sk-client-admin-test"]) {
      const res = await t.admin("/credentials", {}, token);
      assert.equal(res.status, 401);
      const body = await res.json();
      assert.equal(body.error.code, "invalid_admin_token");
    }
  } finally {
    await t.close();
  }
  const open = await setup(null);
  try {
    const res = await open.admin("/credentials");
    assert.equal(res.status, 403);
    await res.body?.cancel();
  } finally {
    await open.close();
  }
});

Deno.test("admin API: an API key added for a key provider joins the rotation, masked in the list", async () => {
  const t = await setup();
  try {
    const bad = await t.admin("/credentials/oa", {
      method: "POST",
      body: JSON.stringify({ key: "x" }),
    });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /api_key/);

    const unknown = await t.admin("/credentials/nope", {
      method: "POST",
      body: JSON.stringify({ api_key: "sk-up-x" }),
    });
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();

    const created = await t.admin("/credentials/oa", {
      method: "POST",
      body: JSON.stringify({ api_key: "sk-up-from-admin-bbbbbbbb", label: "second key" }),
    });
    assert.equal(created.status, 201);
    const { id, provider, label } = await created.json();
    assert.equal(provider, "oa");
    assert.equal(label, "second key");

    const client = new OpenAI({
      apiKey: "sk-client-admin-test",
      baseURL: `${t.gateway.url}/v1`,
      maxRetries: 0,
    });
    for (let i = 0; i < 4; i++) {
      await client.chat.completions.create({
        model: "fake-gpt",
        messages: [{ role: "user", content: "hi" }],
      });
    }
    const used = new Set(t.upstream.requests.map((r) => r.headers.get("authorization")));
    assert.deepEqual(
      [...used].sort(),
      ["Bearer sk-up-from-admin-bbbbbbbb", "Bearer sk-up-from-config-aaaa"],
    );

    const list = await (await t.admin("/credentials")).json();
    const text = JSON.stringify(list);
    assert.ok(!text.includes("sk-up-from-admin-bbbbbbbb"), "secret masked");
    const entry = list.accounts.find((a: { id: string }) => a.id === id);
    assert.equal(entry.secret, "sk-up****bbbb");
    assert.equal(entry.status, "active");

    const patched = await t.admin(`/credentials/oa/${id}`, {
      method: "PATCH",
      body: JSON.stringify({ enabled: false, label: "off" }),
    });
    assert.equal(patched.status, 200);
    const view = await patched.json();
    assert.equal(view.status, "disabled");
    assert.equal(view.label, "off");

    const badPatch = await t.admin(`/credentials/oa/${id}`, {
      method: "PATCH",
      body: JSON.stringify({ enabled: "nope" }),
    });
    assert.equal(badPatch.status, 400);
    await badPatch.body?.cancel();

    const del = await t.admin(`/credentials/oa/${id}`, { method: "DELETE" });
    assert.equal(del.status, 200);
    await del.body?.cancel();
    const again = await t.admin(`/credentials/oa/${id}`, { method: "DELETE" });
    assert.equal(again.status, 404);
    await again.body?.cancel();
  } finally {
    await t.close();
  }
});

Deno.test("admin API: malformed bodies get a clear 400", async () => {
  const t = await setup();
  try {
    const notJson = await t.admin("/credentials/oa", { method: "POST", body: "{oops" });
    assert.equal(notJson.status, 400);
    assert.match((await notJson.json()).error.message, /JSON/);
    const demo = await t.admin("/credentials/demo", {
      method: "POST",
      body: JSON.stringify({ api_key: "x" }),
    });
    assert.equal(demo.status, 400);
    await demo.body?.cancel();
    const refresh = await t.admin("/refresh", { method: "POST" });
    assert.equal(refresh.status, 200);
    assert.deepEqual(await refresh.json(), { results: [] });
  } finally {
    await t.close();
  }
});
