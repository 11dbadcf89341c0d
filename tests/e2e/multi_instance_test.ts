import assert from "node:assert/strict";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startGatewayProcess } from "./gateway_process.ts";

/**
 * Two gateway processes sharing one local KV file: a cooldown set by one is honoured by the
 * other, so they do not both hammer a rate-limited key. (Round-robin positions are per
 * process by design: sharing them would cost a KV write per request.)
 */
Deno.test("two gateway processes on one KV share cooldowns", async () => {
  const up = await startFakeOpenAI();
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      providers: [{
        id: "oa",
        type: "openai",
        base_url: `${up.url}/v1`,
        // The limited key answers 429 with Retry-After: 1; fill-first always tries it first.
        api_keys: ["sk-up-first-limited", "sk-up-second-ok"],
        models: ["fake-gpt"],
        strategy: "fill-first",
      }],
    }),
  );
  const env = { KV_PATH: `${dir}/kv.sqlite3` };
  const a = await startGatewayProcess({ args: ["--config", config], env });
  const b = await startGatewayProcess({ args: ["--config", config], env });
  try {
    const ask = async (url: string) => {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "fake-gpt", messages: [{ role: "user", content: "hi" }] }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      await res.body?.cancel();
    };
    await ask(a.url); // trips the limited key, cools it in KV, served by the second key
    await ask(b.url); // sees the cooldown: straight to the second key
    await Promise.all([ask(a.url), ask(b.url), ask(a.url), ask(b.url)]);
    const limited = up.requests.filter((r) =>
      r.headers.get("authorization")?.includes("limited")
    ).length;
    assert.equal(limited, 1, "only the first instance ever called the rate-limited key");
    assert.ok(
      !a.lines.concat(b.lines).some((l) => /database is locked/.test(l) && /ERROR/.test(l)),
    );
  } finally {
    await a.stop();
    await b.stop();
    await up.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two gateway processes on one KV share session affinity and quota snapshots", async () => {
  const up = await startFakeOpenAI();
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.json`;
  const admin = "multi-admin-token";
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      auth: { api_keys: [], admin_token: admin },
      providers: [{
        id: "oa",
        type: "openai",
        base_url: `${up.url}/v1`,
        api_keys: ["sk-up-one", "sk-up-two", "sk-up-three"],
        models: ["fake-gpt"],
        strategy: "session",
      }],
    }),
  );
  const env = { KV_PATH: `${dir}/kv.sqlite3` };
  const a = await startGatewayProcess({ args: ["--config", config], env });
  const b = await startGatewayProcess({ args: ["--config", config], env });
  try {
    const ask = async (url: string, session: string) => {
      const before = up.requests.length;
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "x-session-id": session },
        body: JSON.stringify({ model: "fake-gpt", messages: [{ role: "user", content: "hi" }] }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      await res.body?.cancel();
      return up.requests[before].headers.get("authorization");
    };
    // Move A's round-robin on, so its pick for the shared session differs from B's first pick.
    await ask(a.url, "warm-up-a");
    const onA = await ask(a.url, "shared-conversation");
    assert.equal(onA, "Bearer sk-up-two");
    // B has never seen the conversation: it finds A's choice in KV.
    assert.equal(await ask(b.url, "shared-conversation"), onA);
    assert.equal(await ask(b.url, "shared-conversation"), onA);

    // Quota snapshots: what A saw is what B's admin API shows (after A's periodic flush).
    const quotaOf = async (url: string) => {
      const res = await fetch(`${url}/admin/quota`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      assert.equal(res.status, 200);
      return (await res.json()).quota;
    };
    const deadline = Date.now() + 8000;
    let seenOnB: Record<string, unknown> = {};
    while (Date.now() < deadline) {
      seenOnB = (await quotaOf(b.url)).oa ?? {};
      if (Object.keys(seenOnB).length >= 2) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(
      Object.keys(seenOnB).sort(),
      Object.keys((await quotaOf(a.url)).oa).sort(),
      "both instances list the same credentials' quota",
    );
    assert.ok(Object.keys(seenOnB).length >= 2, "A's snapshots reached B through KV");
  } finally {
    await a.stop();
    await b.stop();
    await up.close();
    await Deno.remove(dir, { recursive: true });
  }
});
