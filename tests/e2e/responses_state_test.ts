import assert from "node:assert/strict";
import OpenAI from "openai";
import { startFakeAnthropic } from "../fakes/anthropic_upstream.ts";
import { startFakeGemini } from "../fakes/gemini_upstream.ts";
import { startGatewayProcess } from "./gateway_process.ts";
import { startTestGateway } from "./start_gateway.ts";

const KEY_A = "sk-client-state-aaaaaaaa";
const KEY_B = "sk-client-state-bbbbbbbb";

async function setup(store: boolean) {
  const anthropic = await startFakeAnthropic();
  const gemini = await startFakeGemini();
  const gateway = await startTestGateway({
    auth: { api_keys: [KEY_A, KEY_B] },
    providers: [
      {
        id: "an",
        type: "anthropic",
        base_url: anthropic.url,
        api_keys: ["sk-ant-up"],
        models: ["claude-*"],
      },
      {
        id: "ge",
        type: "gemini",
        base_url: gemini.url,
        api_keys: ["AIza-fake-state-0000000"],
        models: ["gemini-*"],
      },
    ],
    responses: { store },
  });
  const client = (key: string) =>
    new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  return {
    anthropic,
    gemini,
    gateway,
    a: client(KEY_A),
    b: client(KEY_B),
    async close() {
      await gateway.close();
      await anthropic.close();
      await gemini.close();
    },
  };
}

/** The texts of an Anthropic request's messages, role-tagged. */
function anthropicTurns(body: Record<string, unknown>): string[] {
  return (body.messages as Array<{ role: string; content: unknown }>).map((m) =>
    `${m.role}: ${
      typeof m.content === "string"
        ? m.content
        : (m.content as Array<{ text?: string }>).map((b) => b.text ?? "").join("")
    }`
  );
}

function textOf(res: OpenAI.Responses.Response): string {
  return res.output.flatMap((i) => i.type === "message" ? i.content : [])
    .map((c) => c.type === "output_text" ? c.text : "").join("");
}

for (const model of ["claude-sonnet-4-5", "gemini-2.5-flash"]) {
  Deno.test(`OpenAI SDK on ${model}: previous_response_id, retrieve, input_items, delete`, async () => {
    const t = await setup(true);
    try {
      const first = await t.a.responses.create({ model, input: "my name is Ada", store: true });
      assert.match(first.output_text, /my name is Ada/);
      // Streamed, continuing from the first: the stream passes through, its end is kept.
      const stream = await t.a.responses.create({
        model,
        input: "what is my name?",
        previous_response_id: first.id,
        stream: true,
      });
      let second: OpenAI.Responses.Response | undefined;
      for await (const ev of stream) if (ev.type === "response.completed") second = ev.response;
      assert.ok(second);
      // Streamed responses have no SDK-computed output_text: read the message item.
      const secondText = textOf(second);
      assert.match(secondText, /what is my name\?/);
      const third = await t.a.responses.create({
        model,
        input: "and again?",
        previous_response_id: second.id,
      });
      assert.match(third.output_text, /and again\?/);

      if (model.startsWith("claude")) {
        const last = t.anthropic.requests.filter((r) => r.path === "/v1/messages").at(-1)!;
        assert.deepEqual(anthropicTurns(last.body), [
          "user: my name is Ada",
          `assistant: ${first.output_text}`,
          "user: what is my name?",
          `assistant: ${secondText}`,
          "user: and again?",
        ]);
      } else {
        const last = t.gemini.requests.at(-1)!;
        const contents = last.body.contents as Array<
          { role: string; parts: Array<{ text?: string }> }
        >;
        assert.deepEqual(contents.map((c) => c.role), ["user", "model", "user", "model", "user"]);
        assert.equal(contents[0].parts[0].text, "my name is Ada");
        assert.equal(contents[3].parts.map((p) => p.text ?? "").join(""), secondText);
      }

      const got = await t.a.responses.retrieve(second.id);
      assert.equal(got.id, second.id);
      assert.equal(got.output_text, secondText);
      const items = await t.a.responses.inputItems.list(second.id, { order: "asc" });
      assert.deepEqual(
        items.data.map((i) => (i as { role?: string }).role),
        ["user", "assistant", "user"],
      );

      await t.a.responses.delete(second.id);
      await assert.rejects(t.a.responses.retrieve(second.id), OpenAI.NotFoundError);
      await assert.rejects(
        t.a.responses.create({ model, input: "x", previous_response_id: second.id }),
        (err: unknown) =>
          err instanceof OpenAI.BadRequestError && err.code === "previous_response_not_found",
      );
    } finally {
      await t.close();
    }
  });
}

Deno.test("stored reasoning keeps its signature: a thinking tool turn continues by previous_response_id", async () => {
  const t = await setup(true);
  try {
    const model = "claude-sonnet-4-5-thinktools";
    const first = await t.a.responses.create({
      model,
      input: "weather in Paris and London?",
      reasoning: { effort: "high" },
      tools: [{
        type: "function",
        name: "get_weather",
        parameters: { type: "object", properties: { location: { type: "string" } } },
        strict: false,
      }],
    });
    assert.equal(first.output[0].type, "reasoning");
    const calls = first.output.filter((i) => i.type === "function_call");
    assert.equal(calls.length, 2);
    const second = await t.a.responses.create({
      model,
      previous_response_id: first.id,
      reasoning: { effort: "high" },
      input: calls.map((c, i) => ({
        type: "function_call_output" as const,
        call_id: c.call_id,
        output: i === 0 ? "sunny" : "rain",
      })),
    });
    // The fake refuses a thinking block whose signature it did not issue for that text.
    assert.match(second.output_text, /Paris: sunny; London: rain \(thinking on\)/);
  } finally {
    await t.close();
  }
});

Deno.test("another client key never reads, continues or deletes a stored response", async () => {
  const t = await setup(true);
  try {
    const mine = await t.a.responses.create({ model: "claude-sonnet-4-5", input: "secret" });
    await assert.rejects(t.b.responses.retrieve(mine.id), OpenAI.NotFoundError);
    await assert.rejects(t.b.responses.delete(mine.id), OpenAI.NotFoundError);
    await assert.rejects(
      t.b.responses.create({
        model: "claude-sonnet-4-5",
        input: "x",
        previous_response_id: mine.id,
      }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && /not found/.test(err.message),
    );
    assert.equal((await t.a.responses.retrieve(mine.id)).id, mine.id, "still there for its owner");
    // store: false keeps nothing.
    const unstored = await t.a.responses.create({
      model: "claude-sonnet-4-5",
      input: "x",
      store: false,
    });
    await assert.rejects(t.a.responses.retrieve(unstored.id), OpenAI.NotFoundError);
  } finally {
    await t.close();
  }
});

Deno.test("with responses.store off, previous_response_id is the documented 400", async () => {
  const t = await setup(false);
  try {
    await assert.rejects(
      t.a.responses.create({
        model: "claude-sonnet-4-5",
        input: "x",
        previous_response_id: "resp_1",
      }),
      (err: unknown) =>
        err instanceof OpenAI.BadRequestError && err.code === "unsupported_parameter" &&
        /'responses: \{ store: true \}'/.test(err.message),
    );
    const first = await t.a.responses.create({ model: "claude-sonnet-4-5", input: "x" });
    await assert.rejects(
      t.a.responses.retrieve(first.id),
      (err: unknown) =>
        err instanceof OpenAI.NotFoundError && /responses: \{ store: true \}/.test(err.message),
    );
  } finally {
    await t.close();
  }
});

Deno.test("previous_response_id across two gateway processes sharing one KV", async () => {
  const anthropic = await startFakeAnthropic();
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      auth: { api_keys: [KEY_A] },
      providers: [{
        id: "an",
        type: "anthropic",
        base_url: anthropic.url,
        api_keys: ["sk-ant-up"],
        models: ["claude-*"],
      }],
      responses: { store: true },
    }),
  );
  const env = { KV_PATH: `${dir}/kv.sqlite3` };
  const one = await startGatewayProcess({ args: ["--config", config], env });
  const two = await startGatewayProcess({ args: ["--config", config], env });
  try {
    const onOne = new OpenAI({ apiKey: KEY_A, baseURL: `${one.url}/v1`, maxRetries: 0 });
    const onTwo = new OpenAI({ apiKey: KEY_A, baseURL: `${two.url}/v1`, maxRetries: 0 });
    const first = await onOne.responses.create({ model: "claude-sonnet-4-5", input: "turn one" });
    const second = await onTwo.responses.create({
      model: "claude-sonnet-4-5",
      input: "turn two",
      previous_response_id: first.id,
    });
    const last = anthropic.requests.filter((r) => r.path === "/v1/messages").at(-1)!;
    assert.deepEqual(anthropicTurns(last.body), [
      "user: turn one",
      `assistant: ${first.output_text}`,
      "user: turn two",
    ]);
    assert.equal((await onOne.responses.retrieve(second.id)).id, second.id);
  } finally {
    await one.stop();
    await two.stop();
    await anthropic.close();
    await Deno.remove(dir, { recursive: true });
  }
});
