import assert from "node:assert/strict";
import { startFaultyUpstream } from "../fakes/faulty_upstream.ts";
import { validateConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { startGateway } from "../../src/server.ts";

/**
 * KV trouble under a serving gateway: a KV closed underneath it, a KV file locked by another
 * process, and a restart in the middle of traffic. Requests keep being served in the caller's
 * format, the failure is logged, and what was stored is still there afterwards.
 */

const ADMIN = "admin-token-kv-test";

async function boot(kvPath: string, upstreamUrl: string) {
  const logs: string[] = [];
  const kv = await Deno.openKv(kvPath);
  const config = validateConfig({
    port: 0,
    auth: { admin_token: ADMIN },
    providers: [
      { id: "main", type: "openai", base_url: upstreamUrl, api_keys: [], models: ["ok"] },
      {
        id: "limited",
        type: "openai",
        base_url: upstreamUrl,
        api_keys: ["sk-up-limited-1"],
        models: ["status-429"],
      },
      { id: "spare", type: "openai", base_url: upstreamUrl, api_keys: ["sk-spare"], models: ["x"] },
    ],
  });
  const gw = await startGateway({
    config,
    logger: createLogger({ level: "debug", write: (l) => logs.push(l) }),
    hostname: "127.0.0.1",
    port: 0,
    kv,
  });
  return { gw, kv, logs };
}

function ask(base: string, model: string): Promise<Response> {
  return fetch(`${base}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
  });
}

async function addKey(base: string, key: string): Promise<string> {
  const res = await fetch(`${base}/admin/credentials/main`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ api_key: key }),
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body.id;
}

Deno.test("a KV closed under the gateway: requests still served, failures logged, nothing thrown", async () => {
  const upstream = startFaultyUpstream();
  const dir = await Deno.makeTempDir();
  const { gw, kv, logs } = await boot(`${dir}/kv.sqlite`, upstream.url);
  try {
    await addKey(gw.url, "sk-stored-main-1");
    const first = await ask(gw.url, "ok");
    assert.equal(first.status, 200, await first.text());
    kv.close();
    // Served from memory: the stored key, and a 429 that benches its key in memory only.
    for (let i = 0; i < 3; i++) {
      const res = await ask(gw.url, "ok");
      assert.equal(res.status, 200, await res.text());
    }
    const limited = await ask(gw.url, "status-429");
    assert.equal(limited.status, 429);
    assert.equal((await limited.json()).type, "error");
    const benched = await ask(gw.url, "status-429");
    assert.equal(benched.status, 429);
    assert.equal((await benched.json()).error.type, "rate_limit_error");
    // A provider first touched with the KV gone still serves its configured key.
    const spare = await ask(gw.url, "x");
    assert.equal(spare.status, 200, await spare.text());
    const text = logs.join("\n");
    assert.match(text, /KV unavailable for cooldowns/);
    assert.ok(!text.includes("unhandled error"), "no unhandled error");
  } finally {
    await gw.shutdown();
    await upstream.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a KV file locked by another process: answers are not held up by the lock", async () => {
  const upstream = startFaultyUpstream();
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite`;
  const { gw, kv } = await boot(path, upstream.url);
  // Stored before the lock is taken: an admin write racing the locker's start made this flaky.
  await addKey(gw.url, "sk-stored-main-2");
  assert.equal((await ask(gw.url, "ok")).status, 200);
  const locker = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { DatabaseSync } from "node:sqlite";
       const db = new DatabaseSync(${JSON.stringify(path)});
       db.exec("BEGIN EXCLUSIVE"); console.log("locked");
       await new Promise((r) => setTimeout(r, 2500));
       db.exec("COMMIT"); db.close();`,
    ],
    stdout: "piped",
  }).spawn();
  try {
    const out = locker.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.match((await out.read()).value ?? "", /locked/);
    const started = Date.now();
    const limited = await ask(gw.url, "status-429");
    assert.equal(limited.status, 429);
    await limited.body?.cancel();
    const served = await ask(gw.url, "ok");
    assert.equal(served.status, 200);
    await served.body?.cancel();
    assert.ok(Date.now() - started < 1500, `held up ${Date.now() - started} ms by the lock`);
    // An admin write under the lock waits it out (SQLite's busy timeout) or, when KV keeps
    // answering "locked" through the bounded retries, gets 503 with Retry-After: never a 500.
    const write = await fetch(`${gw.url}/admin/credentials/main`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ api_key: "sk-stored-under-lock" }),
    });
    const writeBody = await write.text();
    if (write.status !== 201) {
      assert.equal(write.status, 503, writeBody);
      assert.equal(write.headers.get("retry-after"), "1");
      assert.match(writeBody, /kv_busy/);
    }
    await out.cancel();
    await locker.status;
    // After the lock: the cooldown reached KV, and the file is intact.
    let saved = 0;
    for (let i = 0; i < 100 && saved === 0; i++) {
      saved = (await Array.fromAsync(kv.list({ prefix: ["cooldown", "limited"] }))).length;
      if (saved === 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(saved, 1, "the cooldown was written once the lock was gone");
  } finally {
    await gw.shutdown();
    kv.close();
    await upstream.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a restart in the middle of traffic keeps every stored key and cooldown", async () => {
  const upstream = startFaultyUpstream();
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite`;
  let run = await boot(path, upstream.url);
  try {
    const id = await addKey(run.gw.url, "sk-stored-main-3");
    const limited = await ask(run.gw.url, "status-429");
    assert.equal(limited.status, 429);
    await limited.body?.cancel();
    // Traffic in flight while the gateway goes down: each request ends one way or another.
    const inflight = Array.from(
      { length: 20 },
      () => ask(run.gw.url, "ok").then((r) => r.text().then(() => r.status), () => 0),
    );
    await run.gw.shutdown();
    run.kv.close();
    for (const s of await Promise.all(inflight)) assert.ok(s === 200 || s === 0, `status ${s}`);

    run = await boot(path, upstream.url);
    const list = await fetch(`${run.gw.url}/admin/credentials`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const accounts = (await list.json()).accounts as { id: string }[];
    assert.ok(accounts.some((a) => a.id === id), "the stored key survived");
    assert.equal((await ask(run.gw.url, "ok")).status, 200);
    const benched = await ask(run.gw.url, "status-429");
    assert.equal(benched.status, 429);
    const body = await benched.json();
    assert.match(body.error.message, /rate-limited/, "the cooldown survived the restart");
    assert.equal(upstream.hits.get("status-429"), 1, "the benched key was not tried again");
  } finally {
    await run.gw.shutdown();
    run.kv.close();
    await upstream.close();
    await Deno.remove(dir, { recursive: true });
  }
});
