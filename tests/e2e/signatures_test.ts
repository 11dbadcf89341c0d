import Anthropic from "@anthropic-ai/sdk";
import { type Content, GoogleGenAI, type Part } from "@google/genai";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic_upstream.ts";
import { type FakeGemini, startFakeGemini } from "../fakes/gemini_upstream.ts";
import { anthropicDriver, openAIChatDriver, openAIResponsesDriver } from "./sdk_drivers.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

/**
 * Signatures through every client format, driven by the official SDKs: a two-turn tool loop
 * with two parallel calls (Paris, London) on Gemini 3 (whose fake refuses a call without the
 * signature it issued) and on Claude with thinking (whose fake refuses a thinking block it did
 * not sign, and says whether thinking stayed on). The client answers the calls in reverse order;
 * each result must still land on its own call.
 */

const KEY = "sk-client-signatures-01";
const GEMINI = "gemini-3-pro-preview-tools";
const CLAUDE = "claude-sonnet-4-5-thinktools";
const RESULTS: Record<string, string> = { Paris: "sun", London: "rain" };

interface Fixture {
  gateway: TestGateway;
  gemini: FakeGemini;
  anthropic: FakeAnthropic;
  close(): Promise<void>;
}

async function startFixture(): Promise<Fixture> {
  const gemini = await startFakeGemini();
  const anthropic = await startFakeAnthropic();
  const gateway = await startTestGateway({
    auth: { api_keys: [KEY] },
    providers: [
      {
        id: "up-gemini",
        type: "gemini",
        base_url: gemini.url,
        api_keys: ["AIza-fake-signatures-000000"],
        models: ["gemini-*"],
      },
      {
        id: "up-anthropic",
        type: "anthropic",
        base_url: anthropic.url,
        api_keys: ["sk-ant-up-signatures"],
        models: ["claude-*"],
      },
    ],
  });
  return {
    gateway,
    gemini,
    anthropic,
    async close() {
      await gateway.close();
      await Promise.all([gemini.close(), anthropic.close()]);
    },
  };
}

/** The city a call asks about (both fakes put it in `location`). */
function cityOf(args: unknown): string {
  const location = (args as { location?: unknown } | null)?.location;
  return typeof location === "string" ? location : "?";
}

/** A client's two-turn loop: the final answer text. */
type Loop = (url: string, model: string, stream: boolean) => Promise<string>;

const TOOL = {
  name: "get_weather",
  description: "Weather for a city",
  parameters: {
    type: "object" as const,
    properties: { location: { type: "string" } },
    required: ["location"],
  },
};

const openAIChatLoop: Loop = async (url, model, stream) => {
  const client = new OpenAI({ apiKey: KEY, baseURL: `${url}/v1`, maxRetries: 0 });
  const tools = [{ type: "function" as const, function: TOOL }];
  const question = { role: "user" as const, content: "Weather in Paris and London?" };
  const calls: Array<{ id: string; name: string; arguments: string }> = [];
  let content = "";
  if (stream) {
    const s = await client.chat.completions.create({
      model,
      messages: [question],
      tools,
      reasoning_effort: "medium",
      stream: true,
    });
    for await (const chunk of s) {
      const delta = chunk.choices[0]?.delta;
      content += delta?.content ?? "";
      for (const t of delta?.tool_calls ?? []) {
        calls[t.index] ??= { id: "", name: "", arguments: "" };
        const call = calls[t.index];
        call.id += t.id ?? "";
        call.name += t.function?.name ?? "";
        call.arguments += t.function?.arguments ?? "";
      }
    }
  } else {
    const r = await client.chat.completions.create({
      model,
      messages: [question],
      tools,
      reasoning_effort: "medium",
    });
    content = r.choices[0].message.content ?? "";
    for (const t of r.choices[0].message.tool_calls ?? []) {
      if (t.type === "function") calls.push({ id: t.id, ...t.function });
    }
  }
  assert.equal(calls.length, 2, "two parallel calls");
  const second = await client.chat.completions.create({
    model,
    tools,
    reasoning_effort: "medium",
    messages: [
      question,
      {
        role: "assistant",
        content: content === "" ? null : content,
        tool_calls: calls.map((c) => ({
          id: c.id,
          type: "function" as const,
          function: { name: c.name, arguments: c.arguments },
        })),
      },
      // Reversed: the London result first.
      ...calls.toReversed().map((c) => ({
        role: "tool" as const,
        tool_call_id: c.id,
        content: RESULTS[cityOf(JSON.parse(c.arguments))],
      })),
    ],
  });
  return second.choices[0].message.content ?? "";
};

const openAIResponsesLoop: Loop = async (url, model, stream) => {
  const client = new OpenAI({ apiKey: KEY, baseURL: `${url}/v1`, maxRetries: 0 });
  const tools = [{ type: "function" as const, strict: false, ...TOOL }];
  const question = { role: "user" as const, content: "Weather in Paris and London?" };
  const base = {
    model,
    tools,
    store: false,
    reasoning: { effort: "medium" as const },
    include: ["reasoning.encrypted_content" as const],
  };
  let output: OpenAI.Responses.ResponseOutputItem[] = [];
  if (stream) {
    const s = await client.responses.create({ ...base, input: [question], stream: true });
    for await (const e of s) if (e.type === "response.completed") output = e.response.output;
  } else {
    output = (await client.responses.create({ ...base, input: [question] })).output;
  }
  const calls = output.flatMap((o) => o.type === "function_call" ? [o] : []);
  assert.equal(calls.length, 2, "two parallel calls");
  // As Codex does with store: false: the whole output goes back, reasoning items included.
  const second = await client.responses.create({
    ...base,
    input: [
      question,
      ...output as OpenAI.Responses.ResponseInputItem[],
      ...calls.toReversed().map((c) => ({
        type: "function_call_output" as const,
        call_id: c.call_id,
        output: RESULTS[cityOf(JSON.parse(c.arguments))],
      })),
    ],
  });
  return second.output_text;
};

const anthropicLoop: Loop = async (url, model, stream) => {
  const client = new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0 });
  const tools = [{ name: TOOL.name, description: TOOL.description, input_schema: TOOL.parameters }];
  const base = {
    model,
    max_tokens: 4096,
    thinking: { type: "enabled" as const, budget_tokens: 1024 },
    tools,
  };
  const question = { role: "user" as const, content: "Weather in Paris and London?" };
  const first = stream
    ? await client.messages.stream({ ...base, messages: [question] }).finalMessage()
    : await client.messages.create({ ...base, messages: [question] });
  const uses = first.content.flatMap((b) => b.type === "tool_use" ? [b] : []);
  assert.equal(uses.length, 2, "two parallel calls");
  for (const u of uses) assert.match(u.id, /^[a-zA-Z0-9_-]+$/, "a valid Anthropic id");
  const second = await client.messages.create({
    ...base,
    messages: [
      question,
      { role: "assistant", content: first.content },
      {
        role: "user",
        content: uses.toReversed().map((u) => ({
          type: "tool_result" as const,
          tool_use_id: u.id,
          content: RESULTS[cityOf(u.input)],
        })),
      },
    ],
  });
  return second.content.flatMap((b) => b.type === "text" ? [b.text] : []).join("");
};

const geminiLoop: Loop = async (url, model, stream) => {
  const ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: url } });
  const config = {
    tools: [{
      functionDeclarations: [{
        ...TOOL,
        parametersJsonSchema: TOOL.parameters,
        parameters: undefined,
      }],
    }],
    thinkingConfig: { thinkingBudget: 2048, includeThoughts: true },
  };
  const question: Content = { role: "user", parts: [{ text: "Weather in Paris and London?" }] };
  const parts: Part[] = [];
  if (stream) {
    const s = await ai.models.generateContentStream({ model, contents: [question], config });
    for await (const c of s) parts.push(...c.candidates?.[0]?.content?.parts ?? []);
  } else {
    const r = await ai.models.generateContent({ model, contents: [question], config });
    parts.push(...r.candidates?.[0]?.content?.parts ?? []);
  }
  const calls = parts.flatMap((p) => p.functionCall ? [p.functionCall] : []);
  assert.equal(calls.length, 2, "two parallel calls");
  // Like Gemini CLI: thought parts leave the history, the calls keep their thoughtSignature.
  // Gemini pairs responses by position (no ids here), so they go in call order.
  const second = await ai.models.generateContent({
    model,
    config,
    contents: [
      question,
      { role: "model", parts: parts.filter((p) => !p.thought && (p.text ?? "x") !== "") },
      {
        role: "user",
        parts: calls.map((c) => ({
          functionResponse: { name: c.name, response: { result: RESULTS[cityOf(c.args)] } },
        })),
      },
    ],
  });
  return second.text ?? "";
};

const LOOPS: Array<[string, Loop]> = [
  ["openai-chat", openAIChatLoop],
  ["openai-responses", openAIResponsesLoop],
  ["anthropic", anthropicLoop],
  ["gemini", geminiLoop],
];

for (const [client, loop] of LOOPS) {
  Deno.test(`signatures: ${client} client, two-turn tool loop on Gemini 3 and on Claude`, async (t) => {
    const fx = await startFixture();
    try {
      for (const stream of [false, true]) {
        const how = stream ? "streamed" : "plain";
        await t.step(`Gemini 3 gets its real signature back (${how} first turn)`, async () => {
          const final = await loop(fx.gateway.url, GEMINI, stream);
          assert.equal(final, "Paris: sun; London: rain");
          assert.equal(fx.gemini.placeholderSignatures, 0, "no placeholder signature");
          const last = fx.gemini.requests.at(-1)!.body as {
            contents: Array<{ role: string; parts: Array<Record<string, unknown>> }>;
          };
          const model = last.contents.find((c) => c.role === "model")!;
          assert.ok(fx.gemini.issuedSignatures.has(model.parts[0].thoughtSignature as string));
        });
        await t.step(`Claude keeps thinking on through the loop (${how} first turn)`, async () => {
          const final = await loop(fx.gateway.url, CLAUDE, stream);
          assert.equal(final, "Paris: sun; London: rain (thinking on)");
        });
      }
    } finally {
      await fx.close();
    }
  });
}

Deno.test("signatures: toward Gemini, results answering reversed calls go in call order with their ids", async () => {
  const fx = await startFixture();
  try {
    await openAIChatLoop(fx.gateway.url, GEMINI, false);
    const body = fx.gemini.requests.at(-1)!.body as {
      contents: Array<{ role: string; parts: Array<Record<string, Record<string, unknown>>> }>;
    };
    const [call, answer] = body.contents.slice(-2);
    const callIds = call.parts.map((p) => p.functionCall?.id);
    assert.equal(callIds.length, 2);
    assert.ok(callIds.every((id) => typeof id === "string" && !id.includes("lpsig")), "bare ids");
    assert.deepEqual(answer.parts.map((p) => p.functionResponse?.id), callIds);
    assert.deepEqual(
      answer.parts.map((p) => (p.functionResponse?.response as { result: string }).result),
      ["sun", "rain"],
    );
  } finally {
    await fx.close();
  }
});

Deno.test("signatures: clients that rebuild the call items by hand (no reasoning items, no extra fields) still give Gemini 3 its signature", async () => {
  const fx = await startFixture();
  try {
    for (const driver of [openAIChatDriver, openAIResponsesDriver, anthropicDriver]) {
      const d = driver(fx.gateway.url, KEY);
      const r = await d.toolRoundTrip("gemini-3-flash-preview-weather", "sunny and 21C");
      assert.deepEqual(r.args, { city: "Paris" }, d.name);
      assert.match(r.final, /sunny and 21C/, d.name);
    }
    assert.equal(fx.gemini.placeholderSignatures, 0, "no placeholder signature");
  } finally {
    await fx.close();
  }
});
