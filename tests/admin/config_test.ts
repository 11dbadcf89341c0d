import assert from "node:assert/strict";
import { validateConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { type RunningGateway, startGateway } from "../../src/server.ts";
import { startTestGateway } from "../e2e/start_gateway.ts";

const ADMIN = { authorization: "Bearer admin-token-123" };
const BASE = {
  auth: { api_keys: ["sk-client-abcdef123"], admin_token: "admin-token-123" },
  providers: [{ id: "demo", type: "echo", models: ["demo"] }],
};

async function call(
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = ADMIN,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function chat(url: string, model: string): Promise<number> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: "Bearer sk-client-abcdef123" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  await res.body?.cancel();
  return res.status;
}

Deno.test("/admin/config: PUT validates, versions and applies at once; GET masks and names sources", async () => {
  const gw = await startTestGateway(BASE);
  try {
    const u = `${gw.url}/admin/config`;
    assert.equal((await call(u, "GET", undefined, {})).status, 401);
    const first = await call(u, "GET");
    assert.equal(first.status, 200);
    assert.equal(first.json.version, 0);
    assert.equal(first.json.stored, null);
    assert.ok(!JSON.stringify(first.json).includes("sk-client-abcdef123"));
    assert.ok(!JSON.stringify(first.json).includes("admin-token-123"));

    assert.equal(await chat(gw.url, "fast"), 404);
    const next = {
      ...BASE,
      providers: [...BASE.providers, { id: "demo2", type: "echo", models: ["demo2"] }],
      models: { fast: { routes: [{ provider: "demo2", model: "demo2" }] } },
    };
    const put = await call(u, "PUT", next, { ...ADMIN, "if-match": "0" });
    assert.equal(put.status, 200, JSON.stringify(put.json));
    assert.equal(put.json.version, 1);
    assert.equal(await chat(gw.url, "fast"), 200);

    const got = await call(u, "GET");
    assert.equal(got.json.version, 1);
    const sources = got.json.sources as Record<string, string>;
    assert.equal(sources.providers, "kv");
    assert.equal(sources.limits, "file");
    assert.ok(!JSON.stringify(got.json).includes("sk-client-abcdef123"));

    // Stale If-Match, invalid config, masked values and a non-object are refused with 4xx.
    assert.equal((await call(u, "PUT", next, { ...ADMIN, "if-match": "0" })).status, 409);
    const bad = await call(u, "PUT", { providers: [{ id: "x", type: "nope" }] });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.json), /providers\[0\]\.type/);
    assert.equal((await call(u, "PUT", got.json.stored)).status, 400);
    assert.equal((await call(u, "PUT", [1, 2])).status, 400);
    const lockout = await call(u, "PUT", { auth: { api_keys: ["sk-client-abcdef123"] } });
    assert.equal(lockout.status, 400);
    assert.match(JSON.stringify(lockout.json), /admin token/);
    assert.equal((await call(u, "PUT", "{", ADMIN)).status, 400);

    // Rollback to the file-only state is not possible (no v0), rollback to v1 after v2 is.
    assert.equal((await call(`${u}/rollback`, "POST")).status, 409);
    assert.equal((await call(u, "PUT", BASE)).json.version, 2);
    assert.equal(await chat(gw.url, "fast"), 404);
    const back = await call(`${u}/rollback`, "POST", {});
    assert.equal(back.status, 200);
    assert.deepEqual([back.json.version, back.json.rolled_back_to], [3, 1]);
    assert.equal(await chat(gw.url, "fast"), 200);
    assert.equal((await call(`${u}/rollback`, "POST", { version: "x" })).status, 400);
    const history = await call(`${u}/history`, "GET");
    assert.deepEqual(
      (history.json.versions as { version: number }[]).map((v) => v.version),
      [3, 2, 1],
    );
  } finally {
    await gw.close();
  }
});

Deno.test("/admin/config: another instance on the same KV picks up a change", async () => {
  const dir = await Deno.makeTempDir();
  const logger = createLogger({ level: "error", write: () => {} });
  const open = async (): Promise<{ gw: RunningGateway; kv: Deno.Kv }> => {
    const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
    const gw = await startGateway({
      config: validateConfig(BASE),
      logger,
      hostname: "127.0.0.1",
      port: 0,
      kv,
      configPollMs: 50,
    });
    return { gw, kv };
  };
  const a = await open();
  const b = await open();
  try {
    const next = { models: { fast: { routes: [{ provider: "demo", model: "demo" }] } } };
    assert.equal((await call(`${a.gw.url}/admin/config`, "PUT", next)).status, 200);
    let status = 0;
    for (let i = 0; i < 60 && status !== 200; i++) {
      status = await chat(b.gw.url, "fast");
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 200);
    // A third instance started later reads the stored config at start-up.
    const c = await open();
    try {
      assert.equal(await chat(c.gw.url, "fast"), 200);
    } finally {
      await c.gw.shutdown();
      c.kv.close();
    }
  } finally {
    for (const x of [a, b]) {
      await x.gw.shutdown();
      x.kv.close();
    }
    await Deno.remove(dir, { recursive: true });
  }
});
