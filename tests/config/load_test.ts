import assert from "node:assert/strict";
import {
  applyEnvOverrides,
  ConfigError,
  formatPath,
  loadConfig,
  parseConfigText,
  validateConfig,
} from "../../src/config/load.ts";

function configErrorProblems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err.problems;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("formatPath renders zod paths like providers[1].base_url", () => {
  assert.equal(formatPath(["providers", 1, "base_url"]), "providers[1].base_url");
  assert.equal(
    formatPath(["models", "smart", "routes", 0, "provider"]),
    "models.smart.routes[0].provider",
  );
  assert.equal(formatPath([0]), "[0]");
  assert.equal(formatPath([]), "(root)");
});

Deno.test("parseConfigText parses JSON for .json and any non-YAML extension", () => {
  assert.deepEqual(parseConfigText('{"port": 1, "providers": []}', "cfg.json"), {
    port: 1,
    providers: [],
  });
  assert.deepEqual(parseConfigText('{"port": 2}', "config"), { port: 2 });
});

Deno.test("parseConfigText parses YAML for .yaml and .yml (any case)", () => {
  const text = [
    "port: 9000",
    "providers:",
    "  - id: demo",
    "    type: echo",
    "    models: [demo]",
    "",
  ].join("\n");
  const expected = { port: 9000, providers: [{ id: "demo", type: "echo", models: ["demo"] }] };
  assert.deepEqual(parseConfigText(text, "/etc/llm/config.yaml"), expected);
  assert.deepEqual(parseConfigText(text, "config.yml"), expected);
  assert.deepEqual(parseConfigText(text, "CONFIG.YML"), expected);
  // YAML is not accepted for a .json path.
  assert.throws(() => parseConfigText(text, "config.json"), ConfigError);
});

Deno.test("parseConfigText reports bad syntax as one line naming path and format", () => {
  const json = configErrorProblems(() => parseConfigText("{bad", "cfg.json"));
  assert.equal(json.length, 1);
  assert.match(json[0], /^cfg\.json: not valid JSON: \S/);
  assert.ok(!json[0].includes("\n"));

  const yaml = configErrorProblems(() => parseConfigText("a: [1,\n b", "cfg.yaml"));
  assert.equal(yaml.length, 1);
  assert.match(yaml[0], /^cfg\.yaml: not valid YAML: \S/);
  assert.ok(!yaml[0].includes("\n"));

  const dup = configErrorProblems(() => parseConfigText("a: 1\na: 2\n", "cfg.yml"));
  assert.match(dup[0], /^cfg\.yml: not valid YAML: /);
});

const BASE = validateConfig({
  port: 8000,
  auth: { api_keys: ["file-key"], admin_token: "file-admin" },
  fallback: { max_retries: 3, cooldown_seconds: 300 },
});

Deno.test("applyEnvOverrides: no env leaves the config unchanged and never mutates input", () => {
  const before = structuredClone(BASE);
  assert.deepEqual(applyEnvOverrides(BASE, {}), BASE);
  const out = applyEnvOverrides(BASE, { PORT: "9001", PROXY_API_KEYS: "x" });
  assert.notEqual(out, BASE);
  assert.deepEqual(BASE, before);
});

Deno.test("applyEnvOverrides applies PORT, ADMIN_TOKEN, MAX_RETRIES, COOLDOWN_SECONDS", () => {
  const out = applyEnvOverrides(BASE, {
    PORT: "9001",
    ADMIN_TOKEN: "env-admin",
    MAX_RETRIES: "0",
    COOLDOWN_SECONDS: "1.5",
  });
  assert.equal(out.port, 9001);
  assert.equal(out.auth.admin_token, "env-admin");
  assert.equal(out.fallback.max_retries, 0);
  assert.equal(out.fallback.cooldown_seconds, 1.5);
  assert.deepEqual(out.auth.api_keys, ["file-key"]);
});

Deno.test("applyEnvOverrides splits PROXY_API_KEYS on commas, trimming and dropping empties", () => {
  const out = applyEnvOverrides(BASE, { PROXY_API_KEYS: " k1 , ,k2,, k3 ," });
  assert.deepEqual(out.auth.api_keys, ["k1", "k2", "k3"]);
  assert.deepEqual(applyEnvOverrides(BASE, { PROXY_API_KEYS: "solo" }).auth.api_keys, ["solo"]);
});

Deno.test("applyEnvOverrides ignores empty and blank values", () => {
  const out = applyEnvOverrides(BASE, {
    PORT: "",
    PROXY_API_KEYS: "   ",
    ADMIN_TOKEN: "",
    MAX_RETRIES: " ",
    COOLDOWN_SECONDS: undefined,
  });
  assert.deepEqual(out, BASE);
});

Deno.test("applyEnvOverrides rejects bad values with lines starting `env NAME`", () => {
  for (const port of ["abc", "99999", "-1", "80.5"]) {
    const problems = configErrorProblems(() => applyEnvOverrides(BASE, { PORT: port }));
    assert.equal(problems.length, 1, `PORT=${port}`);
    assert.ok(problems[0].startsWith("env PORT: "), problems[0]);
  }
  assert.deepEqual(configErrorProblems(() => applyEnvOverrides(BASE, { PORT: "abc" })), [
    "env PORT: expected a port number",
  ]);
  const both = configErrorProblems(() =>
    applyEnvOverrides(BASE, { MAX_RETRIES: "many", COOLDOWN_SECONDS: "-3" })
  );
  assert.equal(both.length, 2);
  assert.ok(both[0].startsWith("env MAX_RETRIES: "));
  assert.ok(both[1].startsWith("env COOLDOWN_SECONDS: "));
  assert.ok(
    configErrorProblems(() => applyEnvOverrides(BASE, { MAX_RETRIES: "21" }))[0].startsWith(
      "env MAX_RETRIES: ",
    ),
  );
});

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-config-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadConfig reads a JSON file, validates it and applies env overrides", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({ port: 8100, providers: [{ id: "demo", type: "echo", models: ["demo"] }] }),
    );
    const { config, source } = await loadConfig({
      path,
      explicit: true,
      env: { PROXY_API_KEYS: "a,b" },
    });
    assert.deepEqual(source, { kind: "file", path });
    assert.equal(config.port, 8100);
    assert.equal(config.providers[0].id, "demo");
    assert.deepEqual(config.auth.api_keys, ["a", "b"]);
  });
});

Deno.test("loadConfig reads a YAML file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/config.yaml`;
    await Deno.writeTextFile(path, "port: 8200\nproviders:\n  - id: demo\n    type: echo\n");
    const { config, source } = await loadConfig({ path, explicit: false, env: { PORT: "8300" } });
    assert.equal(source.kind, "file");
    assert.equal(config.port, 8300);
    assert.equal(config.providers[0].type, "echo");
  });
});

Deno.test("loadConfig: a missing default path gives an empty working config", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/missing.json`;
    const { config, source } = await loadConfig({ path, explicit: false, env: { PORT: "8400" } });
    assert.deepEqual(source, { kind: "empty", path });
    assert.deepEqual(config.providers, []);
    assert.equal(config.port, 8400);
  });
});

Deno.test("loadConfig: a missing explicit path is a ConfigError", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/missing.json`;
    await assert.rejects(
      () => loadConfig({ path, explicit: true, env: {} }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems, [`${path}: file not found`]);
        return true;
      },
    );
  });
});

Deno.test("loadConfig: an unreadable path (a directory) is a ConfigError even when default", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () => loadConfig({ path: dir, explicit: false, env: {} }),
      (err: unknown) => err instanceof ConfigError && err.problems[0] === `${dir}: cannot be read`,
    );
  });
});

Deno.test("loadConfig surfaces syntax, validation and env problems as ConfigError", async () => {
  await withTempDir(async (dir) => {
    const bad = `${dir}/bad.json`;
    await Deno.writeTextFile(bad, "{ not json");
    await assert.rejects(
      () => loadConfig({ path: bad, explicit: true, env: {} }),
      (err: unknown) =>
        err instanceof ConfigError && err.problems[0].startsWith(`${bad}: not valid JSON: `),
    );

    const invalid = `${dir}/invalid.json`;
    await Deno.writeTextFile(invalid, JSON.stringify({ providers: [{ id: "a", type: "openai" }] }));
    await assert.rejects(
      () => loadConfig({ path: invalid, explicit: true, env: {} }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems[0] === "providers[0].base_url: required for type openai (or give a preset)",
    );

    const ok = `${dir}/ok.json`;
    await Deno.writeTextFile(ok, "{}");
    await assert.rejects(
      () => loadConfig({ path: ok, explicit: true, env: { PORT: "nope" } }),
      (err: unknown) => err instanceof ConfigError && err.problems[0].startsWith("env PORT"),
    );
  });
});
