import assert from "node:assert/strict";
import { startFakeAnthropic } from "../fakes/anthropic_upstream.ts";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startTestGateway } from "./start_gateway.ts";

Deno.test("unknown fields: kept on same-format routes, dropped with a debug log when converting", async () => {
  const openai = await startFakeOpenAI();
  const anthropic = await startFakeAnthropic();
  // A field the gateway does not know but this (newer) upstream does.
  anthropic.extraParams.add("future_beta_field");
  const gw = await startTestGateway({
    providers: [
      {
        id: "oa",
        type: "openai",
        base_url: `${openai.url}/v1`,
        api_keys: ["sk-up-u"],
        models: ["gpt-u"],
      },
      {
        id: "an",
        type: "anthropic",
        base_url: anthropic.url,
        api_keys: ["sk-ant-up-u"],
        models: ["claude-u"],
      },
    ],
  });
  try {
    const ask = (model: string) =>
      fetch(`${gw.url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
        body: JSON.stringify({
          model,
          max_tokens: 32,
          messages: [{ role: "user", content: "hi" }],
          future_beta_field: { on: true },
        }),
      });
    const same = await ask("claude-u");
    assert.equal(same.status, 200, await same.clone().text());
    await same.body?.cancel();
    assert.deepEqual(anthropic.requests[0].body.future_beta_field, { on: true });

    const converted = await ask("gpt-u");
    assert.equal(converted.status, 200, await converted.clone().text());
    await converted.body?.cancel();
    assert.equal(openai.requests[0].body.future_beta_field, undefined);
    assert.ok(
      gw.logs.some((l) =>
        l.includes("fields dropped in conversion") && l.includes("future_beta_field")
      ),
      "a debug line names the dropped field",
    );
  } finally {
    await gw.close();
    await Promise.all([openai.close(), anthropic.close()]);
  }
});

Deno.test("unknown fields: one the upstream does not know either gets its own 400 in the Anthropic shape", async () => {
  const anthropic = await startFakeAnthropic();
  const gw = await startTestGateway({
    providers: [{
      id: "an",
      type: "anthropic",
      base_url: anthropic.url,
      api_keys: ["sk-ant-up-only"],
      models: ["claude-u"],
    }],
  });
  try {
    const ask = (extra: Record<string, unknown>) =>
      fetch(`${gw.url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
        body: JSON.stringify({
          model: "claude-u",
          max_tokens: 32,
          messages: [{ role: "user", content: "hi" }],
          ...extra,
        }),
      });
    const typo = await ask({ max_tokenz: 32 });
    assert.equal(typo.status, 400);
    const body = await typo.json();
    assert.equal(body.type, "error");
    assert.equal(body.error.type, "invalid_request_error");
    assert.equal(body.error.message, "max_tokenz: Extra inputs are not permitted");
    // The client's typo benches nothing: the only key still answers.
    const ok = await ask({});
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  } finally {
    await gw.close();
    await anthropic.close();
  }
});
