import assert from "node:assert/strict";
import { validateConfig } from "../../src/config/load.ts";
import { PROVIDER_PRESETS, RESERVED_PRESET_NAMES } from "../../src/passthrough/presets.ts";
import { resolvePresets } from "../../src/passthrough/routes.ts";
import { DEFAULT_BASE_URLS, OPENAI_COMPATIBLE_PRESETS } from "../../src/config/presets.ts";

Deno.test("preset table: every provider the pass-through promises is there", () => {
  for (
    const name of [
      "openai",
      "anthropic",
      "gemini",
      "groq",
      "deepseek",
      "openrouter",
      "mistral",
      "xai",
      "together",
      "fireworks",
      "cerebras",
      "cohere",
      "perplexity",
      "siliconflow",
      "moonshot",
      "zhipu",
      "dashscope",
      "novita",
      "huggingface",
      "github",
      "ollama",
    ]
  ) {
    const p = PROVIDER_PRESETS[name];
    assert.ok(p, name);
    assert.match(p.target, /^https?:\/\/[^/]+(\/[^/]+)*$/, name);
    assert.ok(!RESERVED_PRESET_NAMES.has(name));
  }
});

Deno.test("provider presets are derived from the same table, with the base URLs they had", () => {
  // The URLs providers with "preset" relied on before the table moved.
  const before: Record<string, string> = {
    openai: "https://api.openai.com/v1",
    groq: "https://api.groq.com/openai/v1",
    deepseek: "https://api.deepseek.com/v1",
    openrouter: "https://openrouter.ai/api/v1",
    mistral: "https://api.mistral.ai/v1",
    xai: "https://api.x.ai/v1",
    together: "https://api.together.xyz/v1",
    fireworks: "https://api.fireworks.ai/inference/v1",
    cerebras: "https://api.cerebras.ai/v1",
    perplexity: "https://api.perplexity.ai",
    siliconflow: "https://api.siliconflow.cn/v1",
    moonshot: "https://api.moonshot.cn/v1",
    zhipu: "https://open.bigmodel.cn/api/paas/v4",
    dashscope: "https://dashscope.aliyuncs.com/compatible-mode/v1",
    novita: "https://api.novita.ai/v3/openai",
    github: "https://models.github.ai/inference",
    ollama: "http://127.0.0.1:11434/v1",
  };
  for (const [name, url] of Object.entries(before)) {
    assert.equal(OPENAI_COMPATIBLE_PRESETS[name], url, name);
  }
  assert.equal(DEFAULT_BASE_URLS.anthropic, "https://api.anthropic.com");
  assert.equal(DEFAULT_BASE_URLS.gemini, "https://generativelanguage.googleapis.com");
});

Deno.test("config: pass-through defaults keep existing configs valid", () => {
  const pt = validateConfig({}).passthrough;
  assert.equal(pt.enabled, true);
  assert.equal(pt.require_auth, true);
  assert.equal(pt.allow_private, false);
  assert.deepEqual(pt.allow_hosts, []);
  assert.deepEqual(pt.presets, {});
});

Deno.test("config: presets are added and overridden; ollama_url moves ollama", () => {
  const pt = validateConfig({
    passthrough: {
      ollama_url: "http://gpu.lan:11434/",
      presets: {
        openai: { targets: ["https://a.example", "https://b.example/"] },
        mine: { targets: ["https://mine.example/api"], openai_path: "/openai/v1" },
        plain: { targets: ["https://plain.example"] },
      },
    },
  }).passthrough;
  const presets = resolvePresets(pt);
  assert.deepEqual(presets.get("openai"), {
    targets: ["https://a.example", "https://b.example"],
    openaiPath: "/v1",
  });
  assert.deepEqual(presets.get("mine"), {
    targets: ["https://mine.example/api"],
    openaiPath: "/openai/v1",
  });
  assert.equal(presets.get("plain")?.openaiPath, "/v1");
  assert.deepEqual(presets.get("ollama")?.targets, ["http://gpu.lan:11434"]);
  assert.deepEqual(presets.get("zhipu"), {
    targets: ["https://open.bigmodel.cn"],
    openaiPath: "/api/paas/v4",
  });
});

Deno.test("config: bad preset names and targets are refused with their paths", () => {
  assert.throws(
    () =>
      validateConfig({
        passthrough: {
          presets: {
            https: { targets: ["https://x.example"] },
            Bad: { targets: ["https://x.example"] },
            empty: { targets: [] },
            ftp: { targets: ["ftp://x.example"] },
          },
          allow_hosts: ["not a host"],
          surprise: true,
        },
      }),
    (err: Error) => {
      for (
        const fragment of [
          'passthrough.presets.https: "https" is reserved',
          "passthrough.presets.Bad: use lowercase",
          "passthrough.presets.empty.targets: a preset needs at least one target",
          "passthrough.presets.ftp.targets[0]: expected an http(s) URL",
          "passthrough.allow_hosts[0]: expected host or host:port",
        ]
      ) assert.ok(err.message.includes(fragment), `${fragment} in ${err.message}`);
      return true;
    },
  );
});
