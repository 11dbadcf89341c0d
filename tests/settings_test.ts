import assert from "node:assert/strict";
import { validateConfig } from "../src/config/load.ts";
import {
  DEFAULT_CONFIG_PATH,
  DEFAULT_KV_PATH,
  exposureProblem,
  isLoopbackHost,
  readSettings,
  type Settings,
} from "../src/settings.ts";

Deno.test("readSettings defaults", () => {
  assert.deepEqual(readSettings([], {}), {
    configPath: DEFAULT_CONFIG_PATH,
    configExplicit: false,
    host: "127.0.0.1",
    kvPath: DEFAULT_KV_PATH,
    logLevel: "info",
    logJson: false,
    allowOpen: false,
    encryptionKey: undefined,
  });
  assert.equal(DEFAULT_CONFIG_PATH, "./local.json");
});

Deno.test("readSettings: --config PATH and --config=PATH are explicit", () => {
  assert.deepEqual(
    pick(readSettings(["--config", "/etc/gw.yaml"], {})),
    { configPath: "/etc/gw.yaml", configExplicit: true },
  );
  assert.deepEqual(
    pick(readSettings(["--config=/etc/gw.json"], {})),
    { configPath: "/etc/gw.json", configExplicit: true },
  );
  // The last flag wins; unrelated args are ignored.
  assert.deepEqual(
    pick(readSettings(["--verbose", "--config=a.json", "--config", "b.json"], {})),
    { configPath: "b.json", configExplicit: true },
  );
  // A trailing --config without a value is ignored.
  assert.deepEqual(pick(readSettings(["--config"], {})), {
    configPath: DEFAULT_CONFIG_PATH,
    configExplicit: false,
  });
});

Deno.test("readSettings: LLM_PROXY_CONFIG is explicit; the flag wins over it", () => {
  assert.deepEqual(pick(readSettings([], { LLM_PROXY_CONFIG: " /srv/gw.yml " })), {
    configPath: "/srv/gw.yml",
    configExplicit: true,
  });
  assert.deepEqual(
    pick(readSettings(["--config", "flag.json"], { LLM_PROXY_CONFIG: "env.json" })),
    {
      configPath: "flag.json",
      configExplicit: true,
    },
  );
  assert.deepEqual(pick(readSettings([], { LLM_PROXY_CONFIG: "  " })), {
    configPath: DEFAULT_CONFIG_PATH,
    configExplicit: false,
  });
});

Deno.test("readSettings reads HOST, KV_PATH, LOG_LEVEL, LOG_FORMAT and ALLOW_OPEN", () => {
  const s = readSettings([], {
    HOST: " 0.0.0.0 ",
    KV_PATH: "/tmp/kv.db",
    LOG_LEVEL: "DEBUG",
    LOG_FORMAT: "JSON",
    ALLOW_OPEN: "1",
  });
  assert.equal(s.host, "0.0.0.0");
  assert.equal(s.kvPath, "/tmp/kv.db");
  assert.equal(s.logLevel, "debug");
  assert.equal(s.logJson, true);
  assert.equal(s.allowOpen, true);
  assert.equal(readSettings([], { ALLOW_OPEN: "true" }).allowOpen, true);
  for (const v of ["0", "false", "yes", ""]) {
    assert.equal(readSettings([], { ALLOW_OPEN: v }).allowOpen, false, v);
  }
  assert.equal(readSettings([], { LOG_FORMAT: "text" }).logJson, false);
  assert.equal(readSettings([], { LOG_LEVEL: "loud" }).logLevel, "info");
  assert.equal(readSettings([], { HOST: "" }).host, "127.0.0.1");
});

Deno.test("isLoopbackHost", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]"]) {
    assert.equal(isLoopbackHost(h), true, h);
  }
  for (
    const h of [
      "0.0.0.0",
      "::",
      "192.168.1.10",
      "10.0.0.1",
      "example.com",
      "127.0.0.1.example.com",
      "localhost.example.com",
      "128.0.0.1",
      "",
    ]
  ) {
    assert.equal(isLoopbackHost(h), false, h);
  }
});

function settings(host: string, allowOpen = false): Settings {
  return { ...readSettings([], { HOST: host }), allowOpen };
}

Deno.test("exposureProblem refuses a public host without client keys", () => {
  const open = validateConfig({});
  const problem = exposureProblem(settings("0.0.0.0"), open);
  assert.ok(problem);
  assert.match(problem, /^HOST=0\.0\.0\.0 is not loopback and no client keys are configured/);
  assert.match(problem, /ALLOW_OPEN=1/);
});

Deno.test("exposureProblem allows loopback, configured keys, or ALLOW_OPEN", () => {
  const open = validateConfig({});
  const keyed = validateConfig({ auth: { api_keys: ["k1"] } });
  assert.equal(exposureProblem(settings("127.0.0.1"), open), undefined);
  assert.equal(exposureProblem(settings("localhost"), open), undefined);
  assert.equal(exposureProblem(settings("0.0.0.0"), keyed), undefined);
  assert.equal(exposureProblem(settings("0.0.0.0", true), open), undefined);
});

function pick(s: Settings): { configPath: string; configExplicit: boolean } {
  return { configPath: s.configPath, configExplicit: s.configExplicit };
}
