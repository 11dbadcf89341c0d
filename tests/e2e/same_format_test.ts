import assert from "node:assert/strict";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startTestGateway } from "./start_gateway.ts";

/**
 * Same-format requests are forwarded as the client's bytes after checking only what the
 * gateway reads (model, messages, stream): the upstream judges the rest in the client's own
 * format, as it would without the gateway, and its refusal benches nothing. A converted
 * request is still validated in full before any attempt.
 */

const KEY = "sk-client-same-123456";

async function setup() {
  const up = await startFakeOpenAI();
  // A field the gateway does not know but this (newer) upstream does.
  up.extraParams.add("some_new_field");
  const gw = await startTestGateway({
    auth: { api_keys: [KEY] },
    providers: [{
      id: "oa",
      type: "openai",
      base_url: `${up.url}/v1`,
      api_keys: ["sk-up-only-one"],
      models: ["fake-gpt"],
    }],
  });
  return {
    up,
    gw,
    async close() {
      await gw.close();
      await up.close();
    },
  };
}

function chat(url: string, body: string): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body,
  });
}

/** A plain request still answers: the only key was not benched by the client's own mistake. */
async function assertNotBenched(url: string): Promise<void> {
  const ok = await chat(
    url,
    JSON.stringify({ model: "fake-gpt", messages: [{ role: "user", content: "hi" }] }),
  );
  assert.equal(ok.status, 200, "the only key is not benched by the client's mistake");
  await ok.body?.cancel();
}

Deno.test("same format: a body only the upstream can judge reaches it as sent; its 400 is relayed and benches nothing", async () => {
  const t = await setup();
  try {
    const body = JSON.stringify({
      model: "fake-gpt",
      messages: [{ role: "user", content: "hi" }, { role: "bogus", content: "?" }],
      // A field the gateway does not know but a newer upstream does: forwarded as it is.
      some_new_field: { kept: true },
    });
    const res = await chat(t.gw.url, body);
    assert.equal(res.status, 400);
    const err = (await res.json()).error;
    assert.equal(err.code, "invalid_value");
    assert.equal(err.param, "messages[1].role");
    assert.equal(t.up.requests.length, 1);
    assert.equal(t.up.requests[0].rawBody, body, "forwarded byte for byte");
    await assertNotBenched(t.gw.url);
  } finally {
    await t.close();
  }
});

Deno.test("same format: a field the upstream does not know gets its own 400 and benches nothing", async () => {
  const t = await setup();
  try {
    const res = await chat(
      t.gw.url,
      JSON.stringify({
        model: "fake-gpt",
        messages: [{ role: "user", content: "hi" }],
        max_tokenz: 10,
      }),
    );
    assert.equal(res.status, 400);
    const err = (await res.json()).error;
    assert.equal(err.type, "invalid_request_error");
    assert.equal(err.message, "Unrecognized request argument supplied: max_tokenz");
    await assertNotBenched(t.gw.url);
  } finally {
    await t.close();
  }
});

Deno.test("same format: a parameter out of the upstream's range gets its own 400, in the caller's shape", async () => {
  const t = await setup();
  try {
    const res = await chat(
      t.gw.url,
      JSON.stringify({
        model: "fake-gpt",
        temperature: 3,
        messages: [{ role: "user", content: "hi" }],
      }),
    );
    assert.equal(res.status, 400);
    const err = (await res.json()).error;
    assert.equal(err.code, "decimal_above_max_value");
    assert.equal(err.param, "temperature");
    assert.equal(t.up.requests.length, 1);
  } finally {
    await t.close();
  }
});

Deno.test("same format: what the gateway reads is still checked by the gateway, before any upstream call", async () => {
  const t = await setup();
  try {
    const cases: [string, RegExp][] = [
      [JSON.stringify({ messages: [{ role: "user", content: "hi" }] }), /'model'/],
      [JSON.stringify({ model: "", messages: [{ role: "user", content: "hi" }] }), /'model'/],
      [JSON.stringify({ model: "fake-gpt", messages: "hi" }), /'messages'/],
      [JSON.stringify({ model: "fake-gpt", messages: [] }), /'messages'/],
      [
        JSON.stringify({
          model: "fake-gpt",
          stream: "yes",
          messages: [{ role: "user", content: "hi" }],
        }),
        /'stream'/,
      ],
    ];
    for (const [body, field] of cases) {
      const res = await chat(t.gw.url, body);
      assert.equal(res.status, 400, body);
      const err = (await res.json()).error;
      assert.equal(err.type, "invalid_request_error");
      assert.match(err.message, field);
    }
    assert.equal(t.up.requests.length, 0);
  } finally {
    await t.close();
  }
});

Deno.test("converted: a body the IR refuses gets the gateway's 400 in the caller's shape, with no upstream call", async () => {
  const t = await setup();
  try {
    const res = await fetch(`${t.gw.url}/v1/messages`, {
      method: "POST",
      headers: {
        "x-api-key": KEY,
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
      },
      body: JSON.stringify({
        model: "fake-gpt",
        max_tokens: 10,
        messages: [{ role: "user", content: [{ type: "text" }] }],
      }),
    });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.type, "error");
    assert.equal(body.error.type, "invalid_request_error");
    assert.equal(t.up.requests.length, 0);
  } finally {
    await t.close();
  }
});
