import assert from "node:assert/strict";
import { ConfigLayers, maskConfig } from "../../src/config/layers.ts";
import { ConfigError } from "../../src/config/load.ts";
import { ConfigStore } from "../../src/runtime_state.ts";
import { KvConfigStore } from "../../src/config/kv_config.ts";
import { createLogger } from "../../src/observe/logger.ts";

const logger = createLogger({ level: "error", write: () => {} });
const entry = (version: number, config: Record<string, unknown>) => ({
  version,
  config,
  updated_at: new Date().toISOString(),
  reason: "put" as const,
});

Deno.test("ConfigLayers: env > KV > file, by top-level section", () => {
  const layers = new ConfigLayers({
    fileRaw: { port: 1000, auth: { api_keys: ["file-key"] }, model_priority: [] },
    env: { PORT: "3000" },
  });
  const store = new ConfigStore(layers.effective(), logger);
  layers.bind(store, logger);
  assert.equal(store.current.config.port, 3000);
  layers.setKv(entry(1, { auth: { api_keys: ["kv-key"] }, port: 2000 }));
  assert.deepEqual(store.current.config.auth.api_keys, ["kv-key"]);
  assert.equal(store.current.config.port, 3000, "env still wins");
  const o = layers.origins();
  assert.equal(o.auth, "kv");
  assert.equal(o.port, "env");
  assert.equal(o.model_priority, "file");
  assert.equal(o.providers, "default");
  // A file edit is a new file layer: KV keeps its precedence over it.
  layers.setFile({ auth: { api_keys: ["file-key-2"] }, fallback: { max_retries: 7 } });
  assert.deepEqual(store.current.config.auth.api_keys, ["kv-key"]);
  assert.equal(store.current.config.fallback.max_retries, 7);
  layers.setKv(null);
  assert.deepEqual(store.current.config.auth.api_keys, ["file-key-2"]);
});

Deno.test("ConfigLayers: an invalid layer is refused and the last good config stays", () => {
  const layers = new ConfigLayers({
    fileRaw: { providers: [{ id: "demo", type: "echo", models: ["demo"] }] },
    env: {},
    check: (c) => c.auth.api_keys.includes("forbidden") ? "forbidden key" : undefined,
  });
  const store = new ConfigStore(layers.effective(), logger);
  layers.bind(store, logger);
  assert.throws(() => layers.setFile({ port: "x" }), ConfigError);
  assert.throws(() => layers.withKv({ auth: { api_keys: ["forbidden"] } }), /forbidden key/);
  // KV routes may name the file's providers: cross-checks run on the merged config.
  assert.doesNotThrow(() =>
    layers.withKv({ models: { fast: { routes: [{ provider: "demo", model: "demo" }] } } })
  );
  assert.throws(
    () => layers.withKv({ models: { fast: { routes: [{ provider: "nope", model: "x" }] } } }),
    /unknown provider "nope"/,
  );
  layers.setKv(entry(1, { port: -5 }));
  assert.equal(layers.kvVersion, 0);
  assert.equal(store.current.config.providers[0].id, "demo");
});

Deno.test("maskConfig masks keys, tokens, secrets, header values and URL passwords only", () => {
  const masked = maskConfig({
    auth: { api_keys: ["sk-client-123456789"], admin_token: "admin-secret-value" },
    providers: [{
      id: "p",
      api_keys: ["sk-upstream-abcdefgh"],
      client_secret: "GOCSPX-abcdefghijk",
      headers: { "x-custom": "hidden-value-123" },
      proxy_url: "http://user:pa55word@proxy:8080",
      token_url: "https://oauth2.example/token",
      count_tokens: "estimate",
    }],
  });
  const text = JSON.stringify(masked);
  for (
    const s of [
      "sk-client-123456789",
      "admin-secret-value",
      "sk-upstream-abcdefgh",
      "GOCSPX-abcdefghijk",
      "hidden-value-123",
      "pa55word",
    ]
  ) assert.ok(!text.includes(s), s);
  assert.ok(text.includes("https://oauth2.example/token"));
  assert.ok(text.includes('"count_tokens":"estimate"'));
});

Deno.test("ConfigLayers.loadKv: a stored config that no longer fits is logged and left out", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvConfigStore(kv);
    // Valid when stored (the file then defined "gone"); the file no longer does.
    await store.put({ models: { a: { routes: [{ provider: "gone", model: "x" }] } } });
    const lines: string[] = [];
    const log = createLogger({ level: "warn", write: (l) => lines.push(l) });
    const layers = new ConfigLayers({ fileRaw: { port: 1234 }, env: {} });
    const config = await layers.loadKv(store, log);
    assert.equal(config.port, 1234);
    assert.equal(layers.kvVersion, 0);
    assert.match(lines.join("\n"), /config stored in KV not used.*unknown provider .*gone/);
    // A fitting one is used.
    await store.put({ port: 4321 });
    const again = new ConfigLayers({ fileRaw: { port: 1234 }, env: {} });
    assert.equal((await again.loadKv(store, log)).port, 4321);
    assert.equal(again.kvVersion, 2);
  } finally {
    kv.close();
  }
});
