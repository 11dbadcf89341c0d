import assert from "node:assert/strict";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";
import {
  adminCall,
  ask,
  assertError,
  awayFromMinuteEnd,
  createKey,
  type Format,
  FORMATS,
  keysConfig,
} from "./client_keys_helpers.ts";

async function withGateway(
  fn: (gw: TestGateway) => Promise<void>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const gw = await startTestGateway(keysConfig(extra), { kvPath: `${dir}/kv.sqlite3` });
  try {
    await fn(gw);
  } finally {
    await gw.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function ok(res: Response, what: string): Promise<void> {
  assert.equal(res.status, 200, `${what}: ${await res.clone().text()}`);
  await res.body?.cancel();
}

function assertRateHeaders(res: Response, limit: number, remaining: number): void {
  assert.equal(res.headers.get("x-ratelimit-limit-requests"), String(limit));
  assert.equal(res.headers.get("x-ratelimit-remaining-requests"), String(remaining));
  assert.match(res.headers.get("x-ratelimit-reset-requests") ?? "", /^\d+s$/);
}

Deno.test("managed keys: rpm in every client format (429, Retry-After, x-ratelimit headers)", async () => {
  await withGateway(async (gw) => {
    await awayFromMinuteEnd(10_000);
    for (const format of FORMATS) {
      const { secret } = await createKey(gw.url, { rpm: 2 });
      for (let i = 0; i < 2; i++) {
        const res = await ask(gw.url, format, secret);
        assertRateHeaders(res, 2, 1 - i);
        await ok(res, `${format} #${i}`);
      }
      const res = await ask(gw.url, format, secret);
      const retry = Number(res.headers.get("retry-after"));
      assert.ok(retry >= 1 && retry <= 60, `${format}: Retry-After ${retry}`);
      assertRateHeaders(res, 2, 0);
      await assertError(res, format, 429, {
        openai: "rate_limit_error",
        anthropic: "rate_limit_error",
        gemini: "RESOURCE_EXHAUSTED",
        code: "rate_limit_exceeded",
      });
    }
  });
});

Deno.test("managed keys: tpm in every client format", async () => {
  await withGateway(async (gw) => {
    await awayFromMinuteEnd(10_000);
    for (const format of FORMATS) {
      // The echo model reports a few tokens per answer: one request spends the minute's tokens.
      const { secret } = await createKey(gw.url, { tpm: 3 });
      const first = await ask(gw.url, format, secret, { text: "a longer question than three" });
      assert.equal(first.headers.get("x-ratelimit-limit-tokens"), "3");
      await ok(first, format);
      const res = await ask(gw.url, format, secret);
      assert.ok(Number(res.headers.get("retry-after")) >= 1);
      assert.equal(res.headers.get("x-ratelimit-remaining-tokens"), "0");
      assert.match(res.headers.get("x-ratelimit-reset-tokens") ?? "", /^\d+s$/);
      await assertError(res, format, 429, {
        openai: "rate_limit_error",
        anthropic: "rate_limit_error",
        gemini: "RESOURCE_EXHAUSTED",
        code: "rate_limit_exceeded",
      });
    }
  });
});

Deno.test("managed keys: concurrent streams in every client format", async () => {
  const up = await startFakeOpenAI();
  // `fake-slow` streams a chunk every 20 ms for 10 s: a stream held open.
  const provider = {
    id: "oa",
    type: "openai",
    base_url: `${up.url}/v1`,
    api_keys: ["sk-up-one"],
    models: ["fake-slow", "fake-gpt"],
  };
  await withGateway(async (gw) => {
    for (const format of FORMATS) {
      const { secret } = await createKey(gw.url, { max_concurrent_streams: 1 });
      const open = await ask(gw.url, format, secret, { model: "fake-slow", stream: true });
      assert.equal(open.status, 200);
      const second = await ask(gw.url, format, secret, { model: "fake-slow", stream: true });
      assert.equal(second.headers.get("retry-after"), "1");
      await assertError(second, format, 429, {
        openai: "rate_limit_error",
        anthropic: "rate_limit_error",
        gemini: "RESOURCE_EXHAUSTED",
        code: "too_many_concurrent_streams",
      });
      // A plain request is not a stream: allowed meanwhile.
      await ok(await ask(gw.url, format, secret, { model: "fake-gpt" }), `${format} plain`);
      // The client leaving gives the slot back (bounded wait for the server to notice).
      await open.body?.cancel();
      let status = 0;
      for (let i = 0; i < 40 && status !== 200; i++) {
        const res = await ask(gw.url, format, secret, { model: "fake-gpt", stream: true });
        status = res.status;
        await res.body?.cancel();
        if (status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 200, `${format}: the slot is given back`);
    }
  }, { providers: [provider] }).finally(() => up.close());
});

Deno.test("managed keys: a spent budget is 429 with each family's quota error", async () => {
  await withGateway(async (gw) => {
    for (const format of FORMATS) {
      const { secret } = await createKey(gw.url, { budget: { period: "day", tokens: 2 } });
      await ok(await ask(gw.url, format, secret), format);
      const res = await ask(gw.url, format, secret);
      const retry = Number(res.headers.get("retry-after"));
      assert.ok(retry >= 1 && retry <= 86_400, `${format}: Retry-After ${retry}`);
      await assertError(res, format, 429, {
        openai: "insufficient_quota",
        anthropic: "billing_error",
        gemini: "RESOURCE_EXHAUSTED",
        code: "insufficient_quota",
      });
    }
  });
});

Deno.test("managed keys: a cost budget uses the config's pricing", async () => {
  await withGateway(async (gw) => {
    // A dollar a token: the first answer spends more than the 1.5 budget.
    const { id, secret } = await createKey(gw.url, { budget: { period: "month", cost: 1.5 } });
    await ok(await ask(gw.url, "chat", secret), "first");
    const res = await ask(gw.url, "chat", secret);
    await assertError(res, "chat", 429, { code: "insufficient_quota" });
    const usage = await adminCall(gw.url, "GET", `/admin/keys/${id}/usage`);
    const tokens = (usage.json.input_tokens as number) + (usage.json.output_tokens as number);
    assert.equal(usage.json.cost, tokens);
    const limits = usage.json.limits as { budget: { cost: { used: number; limit: number } } };
    assert.equal(limits.budget.cost.limit, 1.5);
    assert.equal(limits.budget.cost.used, tokens);
  }, { pricing: { demo: { input: 1_000_000, output: 1_000_000 } } });
});

Deno.test("managed keys: a model outside the allowlist is 403 model_not_allowed", async () => {
  await withGateway(async (gw) => {
    const { secret } = await createKey(gw.url, { models: ["demo", "cheap-*"] });
    for (const format of FORMATS) {
      await ok(await ask(gw.url, format, secret, { model: "cheap-2" }), `${format} glob`);
      await ok(await ask(gw.url, format, secret, { model: "demo" }), `${format} exact`);
    }
    const { secret: narrow } = await createKey(gw.url, { models: ["cheap-1"] });
    for (const format of FORMATS) {
      const res = await ask(gw.url, format, narrow, { model: "demo" });
      await assertError(res, format, 403, {
        openai: "permission_error",
        anthropic: "permission_error",
        gemini: "PERMISSION_DENIED",
        code: "model_not_allowed",
      });
    }
  });
});

Deno.test("managed keys: an expired key is the same 401 as an unknown one", async () => {
  await withGateway(async (gw) => {
    const { secret } = await createKey(gw.url, { expires_at: "2020-01-01T00:00:00Z" });
    const { secret: future } = await createKey(gw.url, { expires_at: "2999-01-01T00:00:00Z" });
    for (const format of FORMATS) {
      const res = await ask(gw.url, format, secret);
      const unknown = await ask(gw.url, format, "sk-lp-not-a-key");
      const body = await res.text();
      assert.equal(await unknown.text(), body, `${format}: no hint of which`);
      await assertError(
        new Response(body, { status: res.status }),
        format as Format,
        401,
        {
          openai: "authentication_error",
          anthropic: "authentication_error",
          gemini: "UNAUTHENTICATED",
        },
      );
      await ok(await ask(gw.url, format, future), `${format} not yet expired`);
    }
  });
});

Deno.test("managed keys: 200 requests at once against rpm 50 give exactly 50 successes", async () => {
  await withGateway(async (gw) => {
    await awayFromMinuteEnd(10_000);
    const { secret } = await createKey(gw.url, { rpm: 50 });
    const statuses = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const res = await ask(gw.url, "chat", secret);
        await res.body?.cancel();
        return res.status;
      }),
    );
    assert.equal(statuses.filter((s) => s === 200).length, 50);
    assert.equal(statuses.filter((s) => s === 429).length, 150);
  });
});
