import assert from "node:assert/strict";
import { Cooldowns } from "../../src/accounts/cooldowns.ts";
import { AccountManager } from "../../src/accounts/manager.ts";
import { AccountStore } from "../../src/accounts/store.ts";
import { validateConfig } from "../../src/config/load.ts";
import { ConfigStore } from "../../src/runtime_state.ts";
import { GatewayError } from "../../src/errors.ts";
import { openAIChatFormat } from "../../src/formats/openai_chat/format.ts";
import { messagesHead } from "../../src/formats/request_head.ts";
import { encodeCallId, mentionsCarriedText } from "../../src/formats/signature_carrier.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { QuotaBook } from "../../src/observe/quota.ts";
import { CredentialHealth } from "../../src/routing/credential_health.ts";
import { CredentialPool } from "../../src/routing/credential_pool.ts";
import { dispatch, type DispatchDeps } from "../../src/routing/dispatch.ts";
import { SessionAffinity } from "../../src/routing/session_affinity.ts";
import { openAIError, startScriptedOpenAI } from "../fakes/scripted_openai.ts";

/** The dispatch loop on plain inputs: no HTTP framework, no gateway server. */

async function setup(
  config: Record<string, unknown>,
): Promise<{ deps: DispatchDeps; close(): void }> {
  const kv = await Deno.openKv(":memory:");
  const logger = createLogger({ level: "error", write: () => {} });
  const accounts = new AccountManager({
    store: new AccountStore(kv),
    driverFor: () => undefined,
    logger,
  });
  const cooldowns = new Cooldowns(kv);
  const quota = new QuotaBook();
  const store = new ConfigStore(validateConfig(config), logger);
  return {
    deps: {
      state: () => store.current,
      pool: new CredentialPool({ accounts, cooldowns, quota, affinity: new SessionAffinity() }),
      health: new CredentialHealth(cooldowns),
      quota,
      logger,
    },
    close: () => kv.close(),
  };
}

function chatRequest(model: string, json: Record<string, unknown> = {
  model,
  messages: [{ role: "user", content: "hi" }],
}) {
  const controller = new AbortController();
  return {
    format: openAIChatFormat,
    hints: {},
    head: messagesHead(json),
    ir: () => openAIChatFormat.toIr(json, {}),
    raw: new TextEncoder().encode(JSON.stringify(json)) as Uint8Array<ArrayBuffer>,
    carried: false,
    json,
    headers: new Headers(),
    signal: () => controller.signal,
  };
}

Deno.test("dispatch: a failed key is retried on the next one; the answer is the upstream's", async () => {
  const up = startScriptedOpenAI(({ key }) =>
    key === "k-bad" ? openAIError(500, "boom") : undefined
  );
  const { deps, close } = await setup({
    providers: [{
      id: "p",
      type: "openai",
      base_url: up.url,
      api_keys: ["k-bad", "k-good"],
      models: ["m"],
      strategy: "fill-first",
    }],
  });
  try {
    const res = await dispatch(chatRequest("m"), deps);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).choices[0].message.content, "answer 2");
    assert.deepEqual(up.calls.map((c) => c.key), ["k-bad", "k-good"]);
  } finally {
    close();
    await up.close();
  }
});

Deno.test("dispatch: an alias falls back to its next route when the first provider is out", async () => {
  const up = startScriptedOpenAI(({ key }) => key === "k-a" ? openAIError(503, "down") : undefined);
  const { deps, close } = await setup({
    providers: [
      { id: "a", type: "openai", base_url: up.url, api_keys: ["k-a"], models: ["m-a"] },
      { id: "b", type: "openai", base_url: up.url, api_keys: ["k-b"], models: ["m-b"] },
    ],
    models: {
      smart: {
        routes: [{ provider: "a", model: "m-a", priority: 1 }, {
          provider: "b",
          model: "m-b",
          priority: 2,
        }],
      },
    },
    failure_policy: { consecutive_failures: 1 },
  });
  try {
    assert.equal((await dispatch(chatRequest("smart"), deps)).status, 200);
    assert.deepEqual(up.calls.map((c) => c.key), ["k-a", "k-b"]);
    // Provider a's only key is ejected now: the next request goes straight to b.
    assert.equal((await dispatch(chatRequest("smart"), deps)).status, 200);
    assert.deepEqual(up.calls.map((c) => c.key), ["k-a", "k-b", "k-b"]);
  } finally {
    close();
    await up.close();
  }
});

Deno.test("dispatch: an unknown model is a 404 model_not_found before any upstream call", async () => {
  const { deps, close } = await setup({});
  try {
    await assert.rejects(dispatch(chatRequest("nope"), deps), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.status, 404);
      assert.equal(err.code, "model_not_found");
      return true;
    });
  } finally {
    close();
  }
});

Deno.test("dispatch: a same-format body holding carried signatures goes through the IR, so the upstream sees bare ids", async () => {
  const up = startScriptedOpenAI();
  const { deps, close } = await setup({
    providers: [{ id: "p", type: "openai", base_url: up.url, api_keys: ["k"], models: ["m"] }],
  });
  try {
    const carried = encodeCallId("call_1", { signature: "c2lnbmF0dXJl", origin: "gemini" });
    assert.notEqual(carried, "call_1");
    const json = {
      model: "m",
      messages: [
        { role: "user", content: "weather?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: carried,
            type: "function",
            function: { name: "weather", arguments: "{}" },
          }],
        },
        { role: "tool", tool_call_id: carried, content: "sunny" },
      ],
    };
    const req = chatRequest("m", json);
    const text = JSON.stringify(json);
    req.raw = new TextEncoder().encode(text) as Uint8Array<ArrayBuffer>;
    // What the route layer computes from the text it parsed.
    req.carried = mentionsCarriedText(text);
    assert.ok(req.carried);
    assert.equal((await dispatch(req, deps)).status, 200);
    const sent = up.calls[0].body.messages as {
      tool_calls?: { id: string }[];
      tool_call_id?: string;
    }[];
    assert.equal(sent[1].tool_calls?.[0].id, "call_1");
    assert.equal(sent[2].tool_call_id, "call_1");
  } finally {
    close();
    await up.close();
  }
});
