import assert from "node:assert/strict";
import { ConfigError, validateConfig } from "../../src/config/load.ts";
import { PROVIDER_TYPES } from "../../src/config/schema.ts";

/** A config shaped like the contract's example, using every section. */
const CONTRACT_EXAMPLE = {
  port: 8080,
  auth: { api_keys: ["sk-client-1"], admin_token: "admin-secret" },
  providers: [
    {
      id: "openai-main",
      type: "openai",
      base_url: "https://api.openai.com/v1",
      api_keys: ["sk-a", "sk-b"],
      models: ["gpt-4o", "gpt-*"],
      timeout_ms: 60_000,
      headers: { "x-extra": "1" },
    },
    { id: "groq", type: "openai", preset: "groq", api_keys: ["gsk_x"], models: ["llama-3"] },
    { id: "demo", type: "echo", models: ["demo"] },
  ],
  models: {
    smart: {
      routes: [
        { provider: "openai-main", model: "gpt-4o", priority: 1, weight: 3 },
        { provider: "groq", model: "llama-3", priority: 2, weight: 0.5, enabled: false },
      ],
    },
  },
  model_priority: ["groq", "openai-main"],
  fallback: { max_retries: 2, cooldown_seconds: 60, alias_fallback: { smart: ["demo"] } },
  detection: { error_codes: ["429", "503"], error_patterns: ["rate_limit"] },
  limits: { max_body_bytes: 1024 },
};

function problemsOf(raw: unknown): string[] {
  try {
    validateConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assert.equal(err.message, err.problems.join("\n"));
    return err.problems;
  }
  assert.fail("expected validateConfig to throw");
}

Deno.test("validateConfig accepts the contract example and keeps every value", () => {
  const cfg = validateConfig(structuredClone(CONTRACT_EXAMPLE));
  assert.equal(cfg.port, 8080);
  assert.deepEqual(cfg.auth, { api_keys: ["sk-client-1"], admin_token: "admin-secret" });
  assert.equal(cfg.providers.length, 3);
  assert.equal(cfg.providers[0].base_url, "https://api.openai.com/v1");
  assert.deepEqual(cfg.providers[0].headers, { "x-extra": "1" });
  assert.equal(cfg.providers[0].timeout_ms, 60_000);
  assert.equal(cfg.providers[1].preset, "groq");
  assert.equal(cfg.providers[1].base_url, undefined);
  assert.equal(cfg.providers[2].type, "echo");
  assert.deepEqual(cfg.models.smart.routes[0], {
    provider: "openai-main",
    model: "gpt-4o",
    priority: 1,
    weight: 3,
    enabled: true,
  });
  assert.equal(cfg.models.smart.routes[1].enabled, false);
  assert.equal(cfg.models.smart.routes[1].weight, 0.5);
  assert.deepEqual(cfg.model_priority, ["groq", "openai-main"]);
  assert.deepEqual(cfg.fallback, {
    max_retries: 2,
    cooldown_seconds: 60,
    alias_fallback: { smart: ["demo"] },
  });
  assert.deepEqual(cfg.detection, { error_codes: ["429", "503"], error_patterns: ["rate_limit"] });
  assert.equal(cfg.limits.max_body_bytes, 1024);
});

Deno.test("validateConfig fills defaults for an empty config (and for null)", () => {
  for (const raw of [{}, null, undefined]) {
    const cfg = validateConfig(raw);
    assert.equal(cfg.port, 8000);
    assert.deepEqual(cfg.auth.api_keys, []);
    assert.equal(cfg.auth.admin_token, undefined);
    assert.deepEqual(cfg.providers, []);
    assert.deepEqual(cfg.models, {});
    assert.deepEqual(cfg.model_priority, []);
    assert.deepEqual(cfg.fallback, { max_retries: 3, cooldown_seconds: 300, alias_fallback: {} });
    assert.deepEqual(cfg.detection.error_codes, ["429", "5xx"]);
    assert.deepEqual(cfg.detection.error_patterns, ["rate_limit", "quota", "insufficient_quota"]);
    assert.equal(cfg.limits.max_body_bytes, 20 * 1024 * 1024);
  }
});

Deno.test("validateConfig fills provider and route defaults", () => {
  const cfg = validateConfig({
    providers: [{ id: "local", type: "openai", base_url: "http://127.0.0.1:11434/v1" }],
    models: { a: { routes: [{ provider: "local", model: "m" }] } },
  });
  const p = cfg.providers[0];
  assert.deepEqual(p.api_keys, []);
  assert.deepEqual(p.models, []);
  assert.equal(p.enabled, true);
  assert.deepEqual(p.headers, {});
  assert.equal(p.timeout_ms, 300_000);
  assert.deepEqual(cfg.models.a, {
    enabled: true,
    routes: [{ provider: "local", model: "m", priority: 1, weight: 1, enabled: true }],
  });
});

Deno.test("validateConfig accepts every declared provider type", () => {
  for (const type of PROVIDER_TYPES) {
    const provider = type === "openai" || type === "azure-openai"
      ? { id: "p", type, base_url: "https://example.com/v1" }
      : { id: "p", type };
    assert.equal(validateConfig({ providers: [provider] }).providers[0].type, type);
  }
});

Deno.test("validateConfig: azure-openai needs its endpoint; cloud fields are checked", () => {
  assert.deepEqual(problemsOf({ providers: [{ id: "az", type: "azure-openai" }] }), [
    "providers[0].base_url: required for type azure-openai (the resource endpoint)",
  ]);
  const problems = problemsOf({
    providers: [{
      id: "b",
      type: "bedrock",
      region: "US East",
      api_version: "2024/10",
      deployments: { "gpt-4o": "has space" },
    }],
  });
  assert.equal(problems.length, 3, problems.join("\n"));
});

Deno.test("validateConfig rejects unknown keys at the root, in providers and in routes", () => {
  assert.deepEqual(problemsOf({ bogus: 1 }), ["bogus: unknown key"]);
  assert.deepEqual(problemsOf({ providers: [{ id: "a", type: "echo", api_key: "x" }] }), [
    "providers[0].api_key: unknown key",
  ]);
  assert.deepEqual(problemsOf({ port: 1, extra1: 1, extra2: 2 }), [
    "extra1: unknown key",
    "extra2: unknown key",
  ]);
  assert.deepEqual(
    problemsOf({
      providers: [{ id: "a", type: "echo" }],
      models: { m: { routes: [{ provider: "a", model: "x", prio: 1 }] } },
    }),
    ["models.m.routes[0].prio: unknown key"],
  );
  assert.deepEqual(problemsOf({ limits: { max_body: 1 } }), ["limits.max_body: unknown key"]);
});

Deno.test("validateConfig names the field path of a bad URL", () => {
  const problems = problemsOf({
    providers: [
      { id: "a", type: "echo" },
      { id: "b", type: "openai", base_url: "ftp://example.com" },
    ],
  });
  assert.deepEqual(problems, ["providers[1].base_url: expected an http(s) URL"]);

  const notUrl = problemsOf({
    providers: [{ id: "a", type: "echo" }, { id: "b", type: "openai", base_url: "not a url" }],
  });
  assert.equal(notUrl[0], "providers[1].base_url: expected a URL");

  const tokenUrl = problemsOf({ providers: [{ id: "q", type: "qwen", token_url: "nope" }] });
  assert.equal(tokenUrl[0], "providers[0].token_url: expected a URL");
});

// Regression: `z.url()` must abort so the http(s) refine does not add a second line.
Deno.test("validateConfig reports a non-URL base_url exactly once", () => {
  const problems = problemsOf({
    providers: [{ id: "a", type: "echo" }, { id: "b", type: "openai", base_url: "not a url" }],
  });
  assert.deepEqual(problems, ["providers[1].base_url: expected a URL"]);
});

Deno.test("validateConfig rejects duplicate provider ids", () => {
  assert.deepEqual(
    problemsOf({
      providers: [
        { id: "a", type: "echo" },
        { id: "b", type: "echo" },
        { id: "a", type: "echo" },
      ],
    }),
    ['providers[2].id: duplicate provider id "a"'],
  );
});

Deno.test("validateConfig rejects an unknown preset and lists the known ones", () => {
  const problems = problemsOf({ providers: [{ id: "a", type: "openai", preset: "nope" }] });
  assert.equal(problems.length, 1);
  assert.match(problems[0], /^providers\[0\]\.preset: unknown preset "nope" \(known: .*groq.*\)$/);
});

Deno.test("validateConfig requires base_url or preset for type openai", () => {
  assert.deepEqual(problemsOf({ providers: [{ id: "a", type: "openai" }] }), [
    "providers[0].base_url: required for type openai (or give a preset)",
  ]);
  // Other types do not need one.
  assert.doesNotThrow(() => validateConfig({ providers: [{ id: "a", type: "anthropic" }] }));
});

Deno.test("validateConfig rejects alias routes and model_priority naming unknown providers", () => {
  assert.deepEqual(
    problemsOf({
      providers: [{ id: "a", type: "echo" }],
      models: {
        smart: { routes: [{ provider: "a", model: "x" }, { provider: "zz", model: "m" }] },
      },
      model_priority: ["a", "ghost"],
    }),
    [
      'models.smart.routes[1].provider: unknown provider "zz"',
      'model_priority[1]: unknown provider "ghost"',
    ],
  );
});

Deno.test("validateConfig reports schema and cross-field problems together", () => {
  assert.deepEqual(
    problemsOf({
      providers: [
        { id: "a", type: "echo", bogus: 1 },
        { id: "a", type: "openai" },
      ],
      models: { x: { routes: [{ provider: "zz", model: "m" }] } },
    }),
    [
      "providers[0].bogus: unknown key",
      'providers[1].id: duplicate provider id "a"',
      "providers[1].base_url: required for type openai (or give a preset)",
      'models.x.routes[0].provider: unknown provider "zz"',
    ],
  );
});

Deno.test("validateConfig rejects bad values with one line per problem", () => {
  const problems = problemsOf({
    port: 70000,
    providers: [
      { id: "bad id!", type: "echo" },
      { id: "x", type: "nope" },
      { id: "y", type: "echo", timeout_ms: -1 },
    ],
    models: { empty: { routes: [] } },
  });
  assert.ok(problems.some((p) => p.startsWith("port: ")), problems.join("\n"));
  assert.ok(problems.includes("providers[0].id: use letters, digits, '_', '.', '-'"));
  assert.ok(
    problems.includes(
      "providers[1].type: expected one of openai, anthropic, gemini, gemini-cli, qwen, vertex, echo, bedrock, azure-openai",
    ),
  );
  assert.ok(problems.some((p) => p.startsWith("providers[2].timeout_ms: ")));
  assert.ok(problems.includes("models.empty.routes: an alias needs at least one route"));
  assert.equal(problems.length, 5, problems.join("\n"));
});

Deno.test("validateConfig rejects empty strings and non-objects", () => {
  assert.deepEqual(problemsOf({ auth: { api_keys: [""] } }), [
    "auth.api_keys[0]: must not be empty",
  ]);
  const arr = problemsOf([]);
  assert.equal(arr.length, 1);
  assert.match(arr[0], /^\(root\): /);
  assert.ok(problemsOf({ limits: { max_body_bytes: 0 } })[0].startsWith("limits.max_body_bytes: "));
});

Deno.test("provider headers with CR/LF or an invalid name are refused at validation, with their path", () => {
  const provider = (headers: Record<string, string>) => ({
    providers: [
      { id: "ok", type: "echo" },
      { id: "p", type: "openai", base_url: "http://127.0.0.1:9", headers },
    ],
  });
  const problems = (headers: Record<string, string>): string[] => {
    try {
      validateConfig(provider(headers));
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    return [];
  };
  // Before: these passed, and every request then failed with 502 "upstream unreachable".
  assert.deepEqual(problems({ "x-tag": "a\r\nx-injected: 1" }), [
    "providers[1].headers.x-tag: a header value must not contain CR, LF or NUL",
  ]);
  assert.deepEqual(problems({ "x-tag": "a\nb" }), [
    "providers[1].headers.x-tag: a header value must not contain CR, LF or NUL",
  ]);
  assert.deepEqual(problems({ "bad name": "v" }), [
    'providers[1].headers: "bad name" is not a valid HTTP header name',
  ]);
  assert.deepEqual(problems({ "x-a\r\n": "v" }), [
    'providers[1].headers: "x-a\\r\\n" is not a valid HTTP header name',
  ]);
  assert.deepEqual(problems({ "x-extra": "1", "X-Org_ID.v2": "tab\tand space" }), []);
});

Deno.test("responses: storing is off by default, 30 days when on; bad values are named", () => {
  assert.deepEqual(validateConfig({}).responses, { store: false, ttl_days: 30 });
  assert.deepEqual(validateConfig({ responses: { store: true } }).responses, {
    store: true,
    ttl_days: 30,
  });
  assert.equal(problemsOf({ responses: { store: "yes" } }).length, 1);
  assert.match(problemsOf({ responses: { ttl_days: 0 } })[0], /^responses\.ttl_days/);
  assert.deepEqual(problemsOf({ responses: { keep: true } }), ["responses.keep: unknown key"]);
});
