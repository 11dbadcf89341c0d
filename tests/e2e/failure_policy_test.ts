import assert from "node:assert/strict";
import { openAIError, startScriptedOpenAI } from "../fakes/scripted_openai.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

/**
 * The failure policy end to end (`src/routing/failure.ts`, `credential_health.ts`,
 * `dispatch.ts`): what a failed attempt does to a credential, seen from clients and from the
 * admin API, against a scripted OpenAI-shaped upstream.
 */

const ADMIN = "admin-secret-token";
type Format = "chat" | "anthropic" | "responses" | "gemini";
const FORMATS: Format[] = ["chat", "anthropic", "responses", "gemini"];

function gateway(
  url: string,
  keys: string[],
  extra: Record<string, unknown> = {},
  provider: Record<string, unknown> = {},
): Promise<TestGateway> {
  return startTestGateway({
    auth: { api_keys: [], admin_token: ADMIN },
    providers: [{
      id: "oa",
      type: "openai",
      base_url: url,
      api_keys: keys,
      models: ["gpt-test"],
      ...provider,
    }],
    ...extra,
  });
}

async function ask(
  gw: TestGateway,
  format: Format = "chat",
  body: Record<string, unknown> = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const messages = [{ role: "user", content: "hi" }];
  let path: string;
  let payload: Record<string, unknown>;
  const headers: Record<string, string> = { "content-type": "application/json" };
  switch (format) {
    case "chat":
      path = "/v1/chat/completions";
      payload = { model: "gpt-test", messages, ...body };
      break;
    case "anthropic":
      path = "/v1/messages";
      payload = { model: "gpt-test", max_tokens: 32, messages };
      headers["anthropic-version"] = "2023-06-01";
      break;
    case "responses":
      path = "/v1/responses";
      payload = { model: "gpt-test", input: "hi" };
      break;
    case "gemini":
      path = "/v1beta/models/gpt-test:generateContent";
      payload = { contents: [{ role: "user", parts: [{ text: "hi" }] }] };
      break;
  }
  const res = await fetch(gw.url + path, {
    method: "POST",
    headers,
    body: JSON.stringify(payload),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

interface CooldownView {
  provider: string;
  account: string;
  until: string;
  reason: string;
  detail: string | null;
}

async function benches(gw: TestGateway): Promise<CooldownView[]> {
  const res = await fetch(`${gw.url}/admin/stats`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  assert.equal(res.status, 200);
  return (await res.json()).cooldowns;
}

async function metric(gw: TestGateway, name: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return Number(line?.split(" ")[1] ?? NaN);
}

function assertErrorShape(format: Format, text: string): void {
  const body = JSON.parse(text);
  assert.equal(typeof body.error?.message, "string", text);
  if (format === "anthropic") assert.equal(body.type, "error", text);
  if (format === "gemini") assert.equal(typeof body.error.status, "string", text);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("one 500 on every key, then the upstream recovers: the next requests reach it and succeed", async () => {
  const up = startScriptedOpenAI(({ n }) =>
    n <= 2 ? openAIError(500, "The server had an error") : undefined
  );
  const gw = await gateway(up.url, ["sk-a", "sk-b"]);
  try {
    const first = await ask(gw);
    assert.equal(first.status, 502, "both keys tried; the upstream error comes back as a 502");
    assert.equal(up.calls.length, 2);
    for (let i = 0; i < 6; i++) assert.equal((await ask(gw)).status, 200);
    assert.equal(up.calls.length, 8, "no request was refused without trying the upstream");
    assert.deepEqual(await benches(gw), [], "one failure in a row benches nothing");
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("sustained 500s eject a key after 3 in a row; it is retried at the ejection interval, longer the next time, and serves when healed", async () => {
  let healed = false;
  const up = startScriptedOpenAI(({ key }) =>
    key === "sk-bad" && !healed ? openAIError(500, "The server had an error") : undefined
  );
  const gw = await gateway(up.url, ["sk-bad", "sk-good"], {
    failure_policy: { base_ejection_seconds: 1 },
  });
  const badCalls = () => up.calls.filter((c) => c.key === "sk-bad").length;
  try {
    for (let i = 0; i < 6; i++) assert.equal((await ask(gw)).status, 200, "retried on sk-good");
    assert.equal(badCalls(), 3, "three failures in a row, then ejected");
    const [ejected] = await benches(gw);
    assert.equal(ejected.reason, "server");
    assert.match(ejected.detail ?? "", /3 server-side failures in a row, last 50\d/);
    const first = Date.parse(ejected.until) - Date.now();
    assert.ok(first > 0 && first <= 1000, `first ejection ~1 s: ${first}`);
    for (let i = 0; i < 4; i++) assert.equal((await ask(gw)).status, 200);
    assert.equal(badCalls(), 3, "not tried while ejected");
    await sleep(1100);
    for (let i = 0; i < 8 && (await benches(gw)).length === 0; i++) await ask(gw);
    assert.equal(badCalls(), 6, "tried again after the ejection, ejected again after 3");
    const [again] = await benches(gw);
    const second = Date.parse(again.until) - Date.now();
    assert.ok(second > 1000 && second <= 2000, `the second ejection is twice as long: ${second}`);
    assert.equal(await metric(gw, "llm_proxy_ejections_total"), 2);
    healed = true;
    await sleep(2100);
    for (let i = 0; i < 4; i++) assert.equal((await ask(gw)).status, 200);
    assert.ok(badCalls() >= 8, "the healed key is back in rotation");
    assert.deepEqual(await benches(gw), []);
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("every credential failing: panic routing still tries the upstream and each client gets its 502 in its own format", async () => {
  const up = startScriptedOpenAI(() => openAIError(502, "Bad gateway upstream"));
  const gw = await gateway(up.url, ["sk-a", "sk-b"], {
    failure_policy: { consecutive_failures: 1, max_ejection_percent: 100 },
  });
  try {
    assert.equal((await ask(gw)).status, 502);
    assert.equal((await benches(gw)).length, 2, "both keys ejected");
    for (const format of FORMATS) {
      const before = up.calls.length;
      const res = await ask(gw, format);
      assert.equal(res.status, 502, `${format}: ${res.text}`);
      assertErrorShape(format, res.text);
      assert.ok(up.calls.length > before, `${format}: the upstream was tried, not a blind 503`);
    }
    assert.ok(await metric(gw, "llm_proxy_panic_routings_total") >= 4);
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("a 429 with Retry-After: 7 benches that key for 7 s exactly while the others serve", async () => {
  const up = startScriptedOpenAI(({ key }) =>
    key === "sk-limited"
      ? openAIError(429, "Rate limit reached", { type: "requests", code: "rate_limit_exceeded" }, {
        "retry-after": "7",
      })
      : undefined
  );
  const gw = await gateway(up.url, ["sk-limited", "sk-ok"], {}, { strategy: "fill-first" });
  try {
    const at = Date.now();
    assert.equal((await ask(gw)).status, 200);
    const [bench] = await benches(gw);
    assert.equal(bench.reason, "rate_limit");
    const ms = Date.parse(bench.until) - at;
    assert.ok(ms >= 7000 && ms < 7500, `benched for ${ms} ms`);
    for (let i = 0; i < 3; i++) assert.equal((await ask(gw)).status, 200);
    assert.equal(up.calls.filter((c) => c.key === "sk-limited").length, 1);
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("an absurd Retry-After is capped at failure_policy.max_cooldown_seconds (an hour by default)", async () => {
  const up = startScriptedOpenAI(({ key }) =>
    key === "sk-limited"
      ? openAIError(429, "Rate limit reached", {}, { "retry-after": "99999999" })
      : undefined
  );
  const gw = await gateway(up.url, ["sk-limited", "sk-ok"], {}, { strategy: "fill-first" });
  try {
    const at = Date.now();
    assert.equal((await ask(gw)).status, 200);
    const [bench] = await benches(gw);
    const s = (Date.parse(bench.until) - at) / 1000;
    assert.ok(s >= 3599 && s <= 3601, `benched for ${s} s`);
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("a 401 on one key of three: the other two serve", async () => {
  const up = startScriptedOpenAI(({ key }) =>
    key === "sk-revoked"
      ? openAIError(401, "Incorrect API key provided", { code: "invalid_api_key" })
      : undefined
  );
  const gw = await gateway(up.url, ["sk-one", "sk-revoked", "sk-two"]);
  try {
    for (let i = 0; i < 9; i++) assert.equal((await ask(gw)).status, 200);
    assert.equal(up.calls.filter((c) => c.key === "sk-revoked").length, 1);
    const used = new Set(up.calls.filter((c) => c.key !== "sk-revoked").map((c) => c.key));
    assert.deepEqual([...used].sort(), ["sk-one", "sk-two"]);
    const [bench] = await benches(gw);
    assert.equal(bench.reason, "auth");
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("a 400 that echoes the client's words ('quota') goes back as it is and benches nothing", async () => {
  const up = startScriptedOpenAI(({ body }) =>
    body.reasoning_effort === "quota"
      ? openAIError(
        400,
        "Invalid value: 'quota'. Supported values are: 'low', 'medium', and 'high'.",
        { param: "reasoning_effort", code: "invalid_value" },
      )
      : undefined
  );
  const gw = await gateway(up.url, ["sk-a", "sk-b"]);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await ask(gw, "chat", { reasoning_effort: "quota" });
      assert.equal(res.status, 400, "the client's own error, not a 429");
      assert.match(res.text, /invalid_value/);
    }
    assert.equal(up.calls.length, 3, "never retried on another key");
    assert.deepEqual(await benches(gw), []);
    for (const format of FORMATS) assert.equal((await ask(gw, format)).status, 200, format);
  } finally {
    await gw.close();
    await up.close();
  }
});

Deno.test("the admin reset ends an ejection at once, and the request log shows each attempt's verdict", async () => {
  let failing = true;
  const up = startScriptedOpenAI(({ key }) =>
    key === "sk-bad" && failing ? openAIError(503, "overloaded") : undefined
  );
  const gw = await gateway(up.url, ["sk-bad", "sk-good"], {
    failure_policy: { consecutive_failures: 1 },
  });
  try {
    assert.equal((await ask(gw)).status, 200);
    const [ejected] = await benches(gw);
    assert.equal(ejected.reason, "server");
    const auth = { authorization: `Bearer ${ADMIN}` };
    const reset = await fetch(`${gw.url}/admin/credentials/oa/${ejected.account}/reset`, {
      method: "POST",
      headers: auth,
    });
    assert.equal(reset.status, 200);
    assert.equal((await reset.json()).cleared, true);
    assert.deepEqual(await benches(gw), []);
    failing = false;
    for (let i = 0; i < 2; i++) assert.equal((await ask(gw)).status, 200);
    assert.ok(up.calls.filter((c) => c.key === "sk-bad").length >= 2, "back in rotation");
    const logs = await (await fetch(`${gw.url}/admin/logs?limit=10`, { headers: auth })).json();
    const attempts = logs.entries.flatMap((e: { attempts: unknown[] }) => e.attempts);
    assert.deepEqual(attempts[0], {
      provider: "oa",
      account: ejected.account,
      status: 502, // the adapter's 502 for any upstream 5xx
      reason: "server",
      ejected: true,
      benched_until: ejected.until,
    });
  } finally {
    await gw.close();
    await up.close();
  }
});
