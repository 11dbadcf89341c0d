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
