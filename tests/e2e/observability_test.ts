import assert from "node:assert/strict";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";
import { startGatewayProcess } from "./gateway_process.ts";

const ADMIN = "admin-secret-token";
const CLIENT = "sk-client-observability";

function config(upstream: string): Record<string, unknown> {
  return {
    auth: { api_keys: [CLIENT], admin_token: ADMIN },
    providers: [{
      id: "oai",
      type: "openai",
      base_url: `${upstream}/v1`,
      // One key is always rate-limited: requests that land on it first are retried.
      api_keys: ["sk-up-good-abcdef123456", "sk-up-limited-abcdef654321"],
      models: ["fake-gpt"],
    }],
    observability: { flush_interval_ms: 100 },
  };
}

function chat(gw: TestGateway, stream: boolean, model = "fake-gpt"): Promise<Response> {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${CLIENT}`, "content-type": "application/json" },
    body: JSON.stringify({
      model,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
      messages: [{ role: "user", content: "hello" }],
    }),
  });
}

async function admin<T>(gw: TestGateway, path: string): Promise<T> {
  const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return await res.json() as T;
}

interface StatsBody {
  uptime_seconds: number;
  totals: Record<string, number>;
  latency_ms: { p50: number | null; p95: number | null };
  ttfb_ms: { p50: number | null; p95: number | null };
  providers: Record<string, Record<string, number>>;
  accounts: Record<string, Record<string, number>>;
  models: Record<string, Record<string, number>>;
  timeline: { minute: string; requests: number; errors: number }[];
}

interface LogBody {
  entries: {
    id: string;
    model: string;
    served_model: string | null;
    provider: string | null;
    account: string | null;
    status: number;
    stream: boolean;
    attempts: { provider: string; account: string; status: number; reason: string }[];
    latency_ms: number;
    ttfb_ms: number | null;
    input_tokens: number | null;
    output_tokens: number | null;
  }[];
}

Deno.test("stats and request log count concurrent requests, retries and tokens; survive a restart", async () => {
  const upstream = await startFakeOpenAI();
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/kv.sqlite3`;
  let gw = await startTestGateway(config(upstream.url), { kvPath });
  try {
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) => chat(gw, i % 2 === 0)),
    );
    for (const res of answers) {
      assert.equal(res.status, 200);
      assert.ok(res.headers.get("x-request-id"), "every answer carries x-request-id");
      await res.text();
    }
    const missing = await chat(gw, false, "no-such-model");
    assert.equal(missing.status, 404);
    await missing.body?.cancel();

    const stats = await admin<StatsBody>(gw, "/admin/stats");
    assert.equal(stats.totals.requests, 25);
    assert.equal(stats.totals.success, 24);
    assert.equal(stats.totals.failure, 1);
    assert.ok(stats.totals.retries > 0, "the limited key caused retries");
    assert.equal(stats.totals.rate_limited, stats.totals.retries);
    assert.equal(stats.totals.input_tokens, 24 * 11, "usage found in streams and plain answers");
    assert.equal(stats.totals.output_tokens, 24 * 7);
    assert.equal(stats.models["fake-gpt"].requests, 24);
    assert.deepEqual(
      Object.keys(stats.models).sort(),
      ["(unrouted)", "fake-gpt"],
      "bounded labels",
    );
    assert.equal(stats.providers.oai.success, 24);
    assert.ok(stats.latency_ms.p50 !== null && stats.latency_ms.p95 !== null);
    assert.ok(stats.latency_ms.p50 <= stats.latency_ms.p95);
    assert.ok(stats.ttfb_ms.p50 !== null);
    assert.equal(stats.timeline.length, 60);
    assert.equal(stats.timeline.reduce((n, m) => n + m.requests, 0), 25);
    assert.equal(stats.timeline.reduce((n, m) => n + m.errors, 0), 1);

    const logs = await admin<LogBody>(gw, "/admin/logs?limit=100");
    assert.equal(logs.entries.length, 25);
    assert.equal(logs.entries[0].model, "no-such-model", "newest first");
    assert.equal(logs.entries[0].status, 404);
    const retried = logs.entries.find((e) => e.attempts.length > 0);
    assert.ok(retried, "an entry lists its failed attempts");
    assert.deepEqual(
      { status: retried.attempts[0].status, reason: retried.attempts[0].reason },
      { status: 429, reason: "rate_limit" },
    );
    const served = logs.entries[1];
    assert.equal(served.provider, "oai");
    assert.equal(served.served_model, "fake-gpt");
    assert.match(served.account ?? "", /^key-[0-9a-f]{8}$/);
    assert.equal(served.input_tokens, 11);
    assert.equal(served.output_tokens, 7);
    assert.ok(served.ttfb_ms !== null && served.ttfb_ms <= served.latency_ms);
    const text = JSON.stringify(logs);
    assert.ok(!text.includes("sk-up-good") && !text.includes("hello"), "no secrets, no bodies");
    assert.equal((await admin<LogBody>(gw, "/admin/logs?limit=3")).entries.length, 3);

    // A restart on the same KV keeps the counts and the log (the shutdown flushes them).
    await gw.close();
    gw = await startTestGateway(config(upstream.url), { kvPath });
    const after = await admin<StatsBody>(gw, "/admin/stats");
    assert.equal(after.totals.requests, 25);
    assert.equal(after.totals.input_tokens, 24 * 11);
    assert.equal((await admin<LogBody>(gw, "/admin/logs?limit=500")).entries.length, 25);
  } finally {
    await gw.close();
    await upstream.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("admin stats routes need the admin token; bad limits are a clear 400", async () => {
  const upstream = await startFakeOpenAI();
  const gw = await startTestGateway(config(upstream.url));
  try {
    for (const path of ["/admin/stats", "/admin/logs"]) {
      const res = await fetch(`${gw.url}${path}`, { headers: { authorization: "Bearer wrong" } });
      assert.equal(res.status, 401);
      await res.body?.cancel();
    }
    const bad = await fetch(`${gw.url}/admin/logs?limit=abc`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /limit/);
  } finally {
    await gw.close();
    await upstream.close();
  }
});

Deno.test("/metrics is Prometheus text; metrics_auth requires the admin token", async () => {
  const upstream = await startFakeOpenAI();
  const gw = await startTestGateway(config(upstream.url));
  try {
    await (await chat(gw, false)).text();
    const res = await fetch(`${gw.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# TYPE llm_proxy_requests_total counter$/m);
    assert.match(
      text,
      /^llm_proxy_requests_total\{provider="oai",model="fake-gpt",status="200"\} 1$/m,
    );
    assert.match(
      text,
      /^llm_proxy_request_duration_seconds_bucket\{provider="oai",le="\+Inf"\} 1$/m,
    );
    assert.match(text, /^llm_proxy_tokens_total\{provider="oai",direction="input"\} 11$/m);

    const closed = await startTestGateway({
      ...config(upstream.url),
      observability: { metrics_auth: true },
    });
    try {
      const denied = await fetch(`${closed.url}/metrics`);
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
      const allowed = await fetch(`${closed.url}/metrics`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      assert.equal(allowed.status, 200);
      await allowed.body?.cancel();
    } finally {
      await closed.close();
    }
  } finally {
    await gw.close();
    await upstream.close();
  }
});

Deno.test("x-request-id: a sane incoming id is kept and names the log lines; others replaced", async () => {
  const upstream = await startFakeOpenAI();
  const gw = await startTestGateway(config(upstream.url));
  try {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${CLIENT}`,
        "content-type": "application/json",
        "x-request-id": "trace-abc.123",
      },
      body: JSON.stringify({ model: "fake-gpt", messages: [{ role: "user", content: "hi" }] }),
    });
    await res.text();
    assert.equal(res.headers.get("x-request-id"), "trace-abc.123");
    const weird = await fetch(`${gw.url}/health`, { headers: { "x-request-id": "a b<script>" } });
    await weird.body?.cancel();
    const id = weird.headers.get("x-request-id") ?? "";
    assert.ok(id !== "" && id !== "a b<script>");
    // Requests that hit the limited key log "attempt failed" lines; all carry the request id.
    for (let i = 0; i < 4; i++) await (await chat(gw, false)).text();
    const attemptLines = gw.logs.filter((l) => l.includes("attempt failed"));
    assert.ok(attemptLines.length > 0);
    for (const line of attemptLines) assert.match(line, /request_id=\S+/);
    const entries = (await admin<LogBody>(gw, "/admin/logs?limit=10")).entries;
    assert.ok(entries.some((e) => e.id === "trace-abc.123"), "the log entry uses the same id");
  } finally {
    await gw.close();
    await upstream.close();
  }
});

Deno.test("the dashboard page loads without a token, with a strict CSP and no outside resources", async () => {
  const upstream = await startFakeOpenAI();
  const gw = await startTestGateway(config(upstream.url));
  try {
    const page = await fetch(`${gw.url}/`);
    assert.equal(page.status, 200);
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    const html = await page.text();
    assert.ok(!/https?:\/\//.test(html.replace("http://www.w3.org/2000/svg", "")));
    assert.ok(!html.includes(ADMIN) && !html.includes("sk-up-"), "the page holds no data");
    for (const asset of ["/dashboard.js", "/dashboard.css"]) {
      const res = await fetch(`${gw.url}${asset}`);
      assert.equal(res.status, 200);
      const body = await res.text();
      assert.ok(!/https?:\/\/(?!www\.w3\.org)/.test(body), `${asset} loads nothing from outside`);
    }
  } finally {
    await gw.close();
    await upstream.close();
  }
});

Deno.test("LOG_FORMAT=json: the real process writes one JSON object a line, request ids, masked keys", async () => {
  const upstream = await startFakeOpenAI();
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(path, JSON.stringify({ ...config(upstream.url), port: 0 }));
  const gw = await startGatewayProcess({
    args: ["--config", path],
    env: { KV_PATH: `${dir}/kv.sqlite3`, LOG_FORMAT: "json", LOG_LEVEL: "info" },
  });
  try {
    const ids: string[] = [];
    // Round robin over a good and a limited key: within a few requests one is retried.
    for (let i = 0; i < 6; i++) {
      const id = `proc-${i}`;
      ids.push(id);
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${CLIENT}`,
          "content-type": "application/json",
          "x-request-id": id,
        },
        body: JSON.stringify({ model: "fake-gpt", messages: [{ role: "user", content: "hi" }] }),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-request-id"), id);
      await res.text();
    }
    const line = await gw.waitForLine(/attempt failed/, 5000);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal(parsed.level, "info");
    assert.ok(ids.includes(String(parsed.request_id)), `request id on the line: ${line}`);
    for (const l of gw.lines) {
      if (!l.startsWith("{")) continue; // Deno's own warnings, if any
      const obj = JSON.parse(l) as Record<string, unknown>;
      assert.equal(typeof obj.time, "string");
      assert.equal(typeof obj.msg, "string");
    }
    const all = gw.lines.join("\n");
    assert.ok(!all.includes("abcdef654321") && !all.includes("abcdef123456"), "keys masked");
  } finally {
    await gw.stop();
    await upstream.close();
    await Deno.remove(dir, { recursive: true });
  }
});
