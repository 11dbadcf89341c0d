import assert from "node:assert/strict";
import { Cooldowns } from "../../src/accounts/cooldowns.ts";
import { AccountManager } from "../../src/accounts/manager.ts";
import { AccountStore } from "../../src/accounts/store.ts";
import { validateConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { QuotaBook } from "../../src/observe/quota.ts";
import { CredentialPool } from "../../src/routing/credential_pool.ts";
import { discovers, ModelDiscovery } from "../../src/routing/model_discovery.ts";
import { SessionAffinity } from "../../src/routing/session_affinity.ts";
import { ConfigStore } from "../../src/runtime_state.ts";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";

function discovery(kv: Deno.Kv, baseUrl: string): ModelDiscovery {
  const logger = createLogger({ level: "error", write: () => {} });
  const store = new ConfigStore(
    validateConfig({
      providers: [{
        id: "oa",
        type: "openai",
        base_url: baseUrl,
        api_keys: ["sk-up-x"],
        models: ["*"],
        timeout_ms: 2000,
      }],
    }),
    logger,
  );
  const accounts = new AccountManager({
    store: new AccountStore(kv),
    driverFor: () => undefined,
    logger,
  });
  const pool = new CredentialPool({
    accounts,
    cooldowns: new Cooldowns(kv),
    quota: new QuotaBook(),
    affinity: new SessionAffinity(),
  });
  return new ModelDiscovery({ kv, state: () => store.current, pool, logger });
}

Deno.test("discover defaults to on for a wildcard provider and can be set either way", () => {
  const base = { id: "p", type: "echo", enabled: true } as const;
  const config = validateConfig({
    providers: [
      { ...base, id: "a", models: ["*"] },
      { ...base, id: "b", models: ["x"] },
      { ...base, id: "c", models: ["*"], discover: false },
      { ...base, id: "d", models: ["gpt-*"], discover: true },
    ],
  });
  assert.deepEqual(config.providers.map(discovers), [true, false, false, true]);
});

Deno.test("a failing upstream leaves the last list; a new instance starts from the fresh KV copy", async () => {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  const up = await startFakeOpenAI();
  up.listedModels = ["m-1", "m-2"];
  const lists = () => up.requests.filter((r) => r.path === "/v1/models").length;
  const first = discovery(kv, `${up.url}/v1`);
  const second = discovery(kv, `${up.url}/v1`);
  try {
    await first.refresh();
    assert.deepEqual(first.models("oa").map((m) => m.id), ["m-1", "m-2"]);
    assert.equal(lists(), 1);

    // A second instance starts with the KV copy; it is fresh, so the upstream is not asked.
    await second.start();
    await second.refresh(Date.now() - 600_000); // what start runs: a no-op for fresh lists
    assert.deepEqual(second.models("oa").map((m) => m.id), ["m-1", "m-2"]);
    assert.equal(lists(), 1);

    up.listedModels = ["m-3"];
    await second.refresh(); // the timer's refresh asks again
    assert.deepEqual(second.models("oa").map((m) => m.id), ["m-3"]);
    assert.equal(lists(), 2);

    await up.close();
    await second.refresh(); // the upstream is gone now
    assert.deepEqual(second.models("oa").map((m) => m.id), ["m-3"], "the last list stays");
  } finally {
    await first.close();
    await second.close();
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});
