import assert from "node:assert/strict";
import { startFaultyUpstream } from "../fakes/faulty_upstream.ts";
import { startTestGateway } from "./start_gateway.ts";

/**
 * One client identity per request: auth and the concurrent-stream limit read the key the same
 * way. Before, a junk `Authorization: Bearer` next to a valid `x-api-key` passed auth (the
 * x-api-key matched) but gave the limits a fresh key per request, so the limit never applied.
 */

const KEY_A = "sk-client-a-123456";
const KEY_B = "sk-client-b-654321";

Deno.test("a junk Bearer next to a valid x-api-key does not bypass max_concurrent_streams_per_key", async () => {
  const upstream = startFaultyUpstream();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY_A, KEY_B] },
    providers: [{
      id: "faulty",
      type: "openai",
      base_url: upstream.url,
      api_keys: ["sk-up-1"],
      models: ["ok", "stall-stream"],
      idle_timeout_ms: 10_000,
    }],
    limits: { max_concurrent_streams_per_key: 1 },
  });
  const controllers: AbortController[] = [];
  const open = (headers: Record<string, string>) => {
    const controller = new AbortController();
    controllers.push(controller);
    return fetch(`${gw.url}/v1/messages`, {
      method: "POST",
      headers: {
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        ...headers,
      },
      body: JSON.stringify({
        model: "stall-stream",
        max_tokens: 16,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
      signal: controller.signal,
    });
  };
  try {
    const first = await open({ authorization: "Bearer junk-1", "x-api-key": KEY_A });
    assert.equal(first.status, 200);
    await first.body!.getReader().read();
    for (let i = 2; i <= 4; i++) {
      const again = await open({ authorization: `Bearer junk-${i}`, "x-api-key": KEY_A });
      assert.equal(again.status, 429, `junk-${i}: ${await again.clone().text()}`);
      assert.equal((await again.json()).error.type, "rate_limit_error");
    }
    const plain = await open({ "x-api-key": KEY_A });
    assert.equal(plain.status, 429);
    await plain.body?.cancel();
    // Another key has its own slot; a junk key alone is still refused.
    const other = await open({ authorization: "Bearer junk-9", "x-api-key": KEY_B });
    assert.equal(other.status, 200);
    await other.body!.getReader().read();
    const junk = await open({ authorization: "Bearer junk-10" });
    assert.equal(junk.status, 401);
    await junk.body?.cancel();
  } finally {
    for (const c of controllers) c.abort();
    await gw.close();
    await upstream.close();
  }
});
