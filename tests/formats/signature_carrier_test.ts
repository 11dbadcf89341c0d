import assert from "node:assert/strict";
import { anthropicFormat } from "../../src/formats/anthropic/format.ts";
import { geminiFormat } from "../../src/formats/gemini/format.ts";
import { irToGeminiRequest } from "../../src/formats/gemini/request.ts";
import { openAIChatFormat } from "../../src/formats/openai_chat/format.ts";
import {
  decodeCallId,
  decodeCarried,
  encodeCallId,
  encodeCarried,
  mentionsCarriedText,
  pushCarriedCall,
} from "../../src/formats/signature_carrier.ts";
import type {
  IrEvent,
  IrPart,
  IrReasoningPart,
  IrRequest,
  IrResponse,
  IrToolCallPart,
} from "../../src/ir/types.ts";
import { sseParserTransformer } from "../../src/sse.ts";

/** A Gemini-like signature: standard base64 with `+`, `/` and padding. */
const GEMINI_SIG = "CiQB0e2Kb+/x9Qz" + "A".repeat(300) + "w/+Y=";
const CLAUDE_THINKING: IrReasoningPart = {
  type: "reasoning",
  text: "The user wants Paris weather; call the tool.",
  signature: "EqQBCkYIBxgCKkA+claude/sig==",
  origin: "anthropic",
};
const ANTHROPIC_ID = /^[a-zA-Z0-9_-]+$/;

const REQ: IrRequest = {
  model: "m",
  system: [],
  messages: [{ role: "user", parts: [{ type: "text", text: "weather?" }] }],
  tools: [],
  stop: [],
  stream: false,
};

function response(content: IrPart[]): IrResponse {
  return { id: "r1", model: "m", created: 1, content, finishReason: "tool_calls" };
}

function geminiCall(id: string, signature?: string): IrToolCallPart {
  return {
    type: "tool_call",
    id,
    name: "get_weather",
    arguments: '{"city":"Paris"}',
    ...(signature ? { signature, origin: "gemini" as const } : {}),
  };
}

Deno.test("carrier: a base64 Gemini signature is only re-spelled (G form), exactly reversible", () => {
  const value = encodeCarried({ signature: GEMINI_SIG, origin: "gemini" });
  assert.ok(value);
  assert.match(value, ANTHROPIC_ID);
  assert.ok(value.length <= GEMINI_SIG.length + 8, "no growth beyond the tag");
  assert.deepEqual(decodeCarried(value), { signature: GEMINI_SIG, origin: "gemini" });
  // Unpadded and odd lengths round-trip too.
  for (const sig of ["YQ==", "YWI=", "YWJj", ""]) {
    assert.deepEqual(decodeCarried(encodeCarried({ signature: sig, origin: "gemini" })!), {
      signature: sig,
      origin: "gemini",
    });
  }
});

Deno.test("carrier: anything else (non-base64, other origins, reasoning) goes as JSON (J form)", () => {
  const carried = {
    signature: "not base64!",
    origin: "openai" as const,
    reasoning: [CLAUDE_THINKING, {
      type: "reasoning" as const,
      text: "",
      redacted: "opaque+data",
      origin: "anthropic" as const,
    }],
  };
  const value = encodeCarried(carried)!;
  assert.match(value, ANTHROPIC_ID);
  assert.deepEqual(decodeCarried(value), carried);
  assert.equal(encodeCarried({}), undefined);
});

Deno.test("carrier: ids keep the bare id first; plain, foreign and broken ids decode as they are", () => {
  const id = encodeCallId("call_abc", { signature: GEMINI_SIG, origin: "gemini" });
  assert.ok(id.startsWith("call_abc__"));
  assert.match(id, ANTHROPIC_ID);
  assert.deepEqual(decodeCallId(id), {
    id: "call_abc",
    carried: { signature: GEMINI_SIG, origin: "gemini" },
  });
  assert.equal(encodeCallId("call_abc", {}), "call_abc");
  for (
    const plain of [
      "call_abc",
      "toolu_01A__x",
      "a__lpsig1_Znot-json",
      "a__lpsig1_J!!",
      "__lpsig1_Gx",
    ]
  ) {
    assert.deepEqual(decodeCallId(plain), { id: plain });
  }
});

Deno.test("carrier: carried reasoning goes before the text since the previous call, replacing its unsigned copy", () => {
  const parts: IrPart[] = [
    { type: "reasoning", text: CLAUDE_THINKING.text },
    { type: "text", text: "Let me check." },
  ];
  pushCarriedCall(parts, geminiCall("a"), { reasoning: [CLAUDE_THINKING] });
  pushCarriedCall(parts, geminiCall("b"), { signature: "s", origin: "gemini" });
  assert.deepEqual(parts, [
    CLAUDE_THINKING,
    { type: "text", text: "Let me check." },
    geminiCall("a"),
    geminiCall("b", "s"),
  ]);
});

async function sseJson(stream: ReadableStream<Uint8Array>): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const e of stream.pipeThrough(new TransformStream(sseParserTransformer()))) {
    if (e.data !== "[DONE]") out.push(JSON.parse(e.data));
  }
  return out;
}

function encodeEvents(
  transformer: Transformer<IrEvent, Uint8Array>,
  events: IrEvent[],
): ReadableStream<Uint8Array> {
  return ReadableStream.from(events).pipeThrough(new TransformStream(transformer));
}

const CLAUDE_EVENTS: IrEvent[] = [
  { type: "start", id: "msg_1", model: "claude", created: 1 },
  { type: "reasoning_delta", text: "The user wants Paris weather; " },
  { type: "reasoning_delta", text: "call the tool." },
  { type: "reasoning_delta", text: "", signature: CLAUDE_THINKING.signature, origin: "anthropic" },
  { type: "text_delta", text: "Let me check." },
  { type: "tool_call_start", index: 0, id: "toolu_01", name: "get_weather" },
  { type: "tool_call_delta", index: 0, argumentsDelta: '{"city":"Paris"}' },
  { type: "tool_call_end", index: 0 },
  { type: "finish", reason: "tool_calls" },
];

Deno.test("OpenAI Chat: a Gemini call signature rides in tool_calls[].id and comes back on the next turn", () => {
  const out = openAIChatFormat.fromIrResponse(
    response([geminiCall("call_1", GEMINI_SIG), geminiCall("call_2")]),
    REQ,
  ) as { choices: Array<{ message: { tool_calls: Array<{ id: string }> } }> };
  const calls = out.choices[0].message.tool_calls;
  assert.notEqual(calls[0].id, "call_1");
  assert.equal(calls[1].id, "call_2", "an unsigned call keeps its id");
  const next = openAIChatFormat.toIr({
    model: "m",
    messages: [
      { role: "user", content: "weather?" },
      { role: "assistant", content: null, tool_calls: out.choices[0].message.tool_calls },
      { role: "tool", tool_call_id: calls[1].id, content: "rainy" },
      { role: "tool", tool_call_id: calls[0].id, content: "sunny" },
    ],
  }, {});
  assert.deepEqual(next.messages[1].parts, [
    geminiCall("call_1", GEMINI_SIG),
    geminiCall("call_2"),
  ]);
  assert.deepEqual(
    next.messages.slice(2).map((m) => (m.parts[0] as { toolCallId: string }).toolCallId),
    ["call_2", "call_1"],
  );
});

Deno.test("OpenAI Chat stream: Claude's signed thinking rides in the first call's id and comes back before the call", async () => {
  const chunks = await sseJson(
    encodeEvents(openAIChatFormat.encodeStream(REQ, {}).transformer, CLAUDE_EVENTS),
  );
  type Delta = {
    reasoning_content?: string;
    content?: string;
    tool_calls?: Array<{ id?: string; function: { name?: string; arguments: string } }>;
  };
  const deltas = chunks.map((c) =>
    ((c.choices as Array<{ delta: Delta }>)[0]?.delta ?? {}) as Delta
  );
  const id = deltas.flatMap((d) => d.tool_calls ?? []).find((t) => t.id)!.id!;
  assert.ok(id.startsWith("toolu_01__"));
  const reasoning = deltas.map((d) => d.reasoning_content ?? "").join("");
  const next = openAIChatFormat.toIr({
    model: "m",
    messages: [
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: "Let me check.",
        reasoning_content: reasoning,
        tool_calls: [{
          id,
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Paris"}' },
        }],
      },
      { role: "tool", tool_call_id: id, content: "sunny" },
    ],
  }, {});
  assert.deepEqual(next.messages[1].parts, [
    CLAUDE_THINKING,
    { type: "text", text: "Let me check." },
    { type: "tool_call", id: "toolu_01", name: "get_weather", arguments: '{"city":"Paris"}' },
  ]);
  assert.equal((next.messages[2].parts[0] as { toolCallId: string }).toolCallId, "toolu_01");
});

Deno.test("Anthropic: a Gemini call signature rides in tool_use.id (a valid Anthropic id), not a thinking block", async () => {
  const msg = anthropicFormat.fromIrResponse(response([geminiCall("call_1", GEMINI_SIG)]), REQ) as {
    content: Array<{ type: string; id?: string }>;
  };
  assert.deepEqual(msg.content.map((b) => b.type), ["tool_use"]);
  const id = msg.content[0].id!;
  assert.match(id, ANTHROPIC_ID);

  const events = [
    { type: "start" as const, id: "x", model: "gemini-3-pro", created: 1 },
    {
      type: "tool_call_start" as const,
      index: 0,
      id: "call_1",
      name: "get_weather",
      signature: GEMINI_SIG,
      origin: "gemini" as const,
    },
    { type: "tool_call_delta" as const, index: 0, argumentsDelta: '{"city":"Paris"}' },
    { type: "tool_call_end" as const, index: 0 },
    { type: "finish" as const, reason: "tool_calls" as const },
  ];
  const chunks = await sseJson(
    encodeEvents(anthropicFormat.encodeStream(REQ, {}).transformer, events),
  );
  const start = chunks.find((c) => c.type === "content_block_start") as {
    content_block: { id: string };
  };
  assert.equal(start.content_block.id, id);

  const next = anthropicFormat.toIr({
    model: "m",
    max_tokens: 100,
    messages: [
      { role: "user", content: "weather?" },
      { role: "assistant", content: msg.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: id, content: "sunny" }] },
    ],
  }, {});
  assert.deepEqual(next.messages[1].parts, [geminiCall("call_1", GEMINI_SIG)]);
  assert.equal((next.messages[2].parts[0] as { toolCallId: string }).toolCallId, "call_1");
});

Deno.test("Gemini client: Claude's signed thinking rides in the call's thoughtSignature and is replayed only to Claude", async () => {
  const res = geminiFormat.fromIrResponse(
    response([
      CLAUDE_THINKING,
      { type: "text", text: "Let me check." },
      { type: "tool_call", id: "toolu_01", name: "get_weather", arguments: '{"city":"Paris"}' },
    ]),
    REQ,
  ) as { candidates: Array<{ content: { parts: Array<Record<string, unknown>> } }> };
  const parts = res.candidates[0].content.parts;
  assert.deepEqual(parts[0], { text: CLAUDE_THINKING.text, thought: true });
  const tagged = parts[2].thoughtSignature as string;
  assert.deepEqual(decodeCarried(tagged), { reasoning: [CLAUDE_THINKING] });

  // Gemini CLI drops thought parts from its history but keeps the call's thoughtSignature.
  const next = geminiFormat.toIr({
    contents: [
      { role: "user", parts: [{ text: "weather?" }] },
      { role: "model", parts: [parts[1], parts[2]] },
      {
        role: "user",
        parts: [{ functionResponse: { name: "get_weather", response: { result: "sunny" } } }],
      },
    ],
  }, { model: "claude-sonnet-4-5" });
  const [thinking, text, call] = next.messages[1].parts;
  assert.deepEqual(thinking, CLAUDE_THINKING);
  assert.deepEqual(text, { type: "text", text: "Let me check." });
  assert.equal(call.type, "tool_call");
  assert.equal((call as IrToolCallPart).signature, undefined);

  // Toward Gemini the foreign thinking is dropped and the tag never leaves the gateway.
  const wire = await irToGeminiRequest(next, { model: "gemini-3-pro-preview" });
  assert.ok(!JSON.stringify(wire).includes("lpsig1_"));
});

Deno.test("carrier: mentionsCarriedText spots every gateway tag in a body", () => {
  const id = encodeCallId("call_1", { signature: GEMINI_SIG, origin: "gemini" });
  assert.ok(mentionsCarriedText(JSON.stringify({ messages: [{ tool_calls: [{ id }] }] })));
  assert.ok(
    mentionsCarriedText(
      JSON.stringify({ content: [{ type: "thinking", signature: "llmproxy.gemini.x" }] }),
    ),
  );
  assert.ok(
    !mentionsCarriedText(JSON.stringify({ messages: [{ tool_calls: [{ id: "call_1" }] }] })),
  );
  assert.ok(!mentionsCarriedText(""));
});

Deno.test("OpenAI Chat → Gemini 3: every step of the current turn gets its own call's real signature", async () => {
  const sigA = "YWFh" + "+/+/".repeat(20);
  const sigB = "YmJi" + "/+/+".repeat(20) + "Zg==";
  const idA = encodeCallId("call_a", { signature: sigA, origin: "gemini" });
  const idB = encodeCallId("call_b", { signature: sigB, origin: "gemini" });
  const call = (id: string) => ({
    id,
    type: "function",
    function: { name: "get_weather", arguments: '{"location":"Paris"}' },
  });
  const ir = openAIChatFormat.toIr({
    model: "gemini-3-pro-preview",
    messages: [
      { role: "user", content: "weather?" },
      { role: "assistant", content: null, tool_calls: [call(idA)] },
      { role: "tool", tool_call_id: idA, content: "sun" },
      { role: "assistant", content: "One more.", tool_calls: [call(idB), call("call_c")] },
      { role: "tool", tool_call_id: "call_c", content: "c" },
      { role: "tool", tool_call_id: idB, content: "b" },
    ],
  }, {});
  const wire = await irToGeminiRequest(ir, {
    model: "gemini-3-pro-preview",
    missingThoughtSignature: "skip_thought_signature_validator",
  });
  const models = wire.contents.filter((c) => c.role === "model");
  assert.deepEqual(
    models.map((m) => m.parts.map((p) => [p.functionCall?.id, p.thoughtSignature])),
    [[["call_a", sigA]], [[undefined, undefined], ["call_b", sigB], ["call_c", undefined]]],
  );
  // The results of the second step come back in call order, ids on both sides.
  assert.deepEqual(wire.contents.at(-1)!.parts.map((p) => p.functionResponse?.id), [
    "call_b",
    "call_c",
  ]);
});
