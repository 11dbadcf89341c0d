import assert from "node:assert/strict";
import { startFakeAnthropic } from "../fakes/anthropic_upstream.ts";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startTestGateway } from "./start_gateway.ts";

Deno.test("unknown fields: kept on same-format routes, dropped with a debug log when converting", async () => {
  const openai = await startFakeOpenAI();
  const anthropic = await startFakeAnthropic();
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
