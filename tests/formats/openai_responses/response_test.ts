import assert from "node:assert/strict";
import { openAIResponsesFormat } from "../../../src/formats/openai_responses/format.ts";
import { decodeEnvelope } from "../../../src/formats/openai_responses/reasoning_envelope.ts";
import { decodeCallId } from "../../../src/formats/signature_carrier.ts";
import {
  irResponseToResponses,
  type ResponsesResponse,
} from "../../../src/formats/openai_responses/response.ts";
import type { IrPart, IrRequest, IrResponse } from "../../../src/ir/types.ts";

const REQ: IrRequest = {
  model: "client-model",
  system: [],
  messages: [],
  tools: [],
  stop: [],
  stream: false,
};

function res(content: IrPart[], extra: Partial<IrResponse> = {}): IrResponse {
  return {
    id: "chatcmpl-9",
    model: "up-model",
    created: 1700000000,
    content,
    finishReason: "stop",
    ...extra,
  };
}

/** Replaces generated ids with stable placeholders (prefix_1, prefix_2...). */
function normalize(value: ResponsesResponse): unknown {
  const seen = new Map<string, string>();
  const counts = new Map<string, number>();
  return JSON.parse(JSON.stringify(value), (key, v) => {
    if (key === "completed_at" && typeof v === "number") return "<time>";
    if (key !== "id" || typeof v !== "string") return v;
    const m = /^(resp|msg|fc|rs)_[0-9a-f]{48}$/.exec(v);
    if (!m) return v;
    if (!seen.has(v)) {
      const n = (counts.get(m[1]) ?? 0) + 1;
      counts.set(m[1], n);
      seen.set(v, `${m[1]}_${n}`);
    }
    return seen.get(v);
  });
}

Deno.test("a text answer becomes a full response object with request echoes and usage", () => {
  const out = irResponseToResponses(
    res([{ type: "text", text: "Hello" }, { type: "text", text: " there" }], {
      usage: { inputTokens: 11, outputTokens: 4, cachedInputTokens: 3, reasoningTokens: 1 },
    }),
    REQ,
  );
  assert.deepEqual(normalize(out), {
    id: "resp_1",
    object: "response",
    created_at: 1700000000,
    status: "completed",
    background: false,
    completed_at: "<time>",
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    max_tool_calls: null,
    model: "up-model",
    output: [{
      id: "msg_1",
      type: "message",
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: "Hello there", annotations: [], logprobs: [] }],
    }],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: "default",
    store: false,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage: {
      input_tokens: 11,
      input_tokens_details: { cached_tokens: 3 },
      output_tokens: 4,
      output_tokens_details: { reasoning_tokens: 1 },
      total_tokens: 15,
    },
    user: null,
    metadata: {},
  });
});

Deno.test("request settings are echoed from the IR", () => {
  const req: IrRequest = {
    ...REQ,
    tools: [{ name: "f", description: "d", parameters: { type: "object" } }],
    toolChoice: { type: "tool", name: "f" },
    parallelToolCalls: false,
    maxTokens: 99,
    temperature: 0.3,
    topP: 0.5,
    user: "u1",
    reasoning: { effort: "low", includeThoughts: true },
    responseFormat: { type: "json_schema", schema: { type: "object" }, strict: true },
  };
  const out = irResponseToResponses(res([]), req);
  assert.deepEqual(out.tools, [
    { type: "function", name: "f", description: "d", parameters: { type: "object" }, strict: null },
  ]);
  assert.deepEqual(out.tool_choice, { type: "function", name: "f" });
  assert.equal(out.parallel_tool_calls, false);
  assert.equal(out.max_output_tokens, 99);
  assert.equal(out.temperature, 0.3);
  assert.equal(out.top_p, 0.5);
  assert.equal(out.user, "u1");
  assert.deepEqual(out.reasoning, { effort: "low", summary: "auto" });
  assert.deepEqual(out.text.format, {
    type: "json_schema",
    name: "response",
    schema: { type: "object" },
    strict: true,
  });
  assert.equal(out.usage, null, "no usage from upstream → null");
  assert.deepEqual(out.output, []);
});

Deno.test("reasoning, text and tool calls map to items in order; reasoning signatures ride in reasoning items, call signatures in call_id", () => {
  const out = irResponseToResponses(
    res([
      { type: "reasoning", text: "Let me think", signature: "sig-1", origin: "anthropic" },
      { type: "text", text: "Calling tools." },
      { type: "tool_call", id: "call_a", name: "f", arguments: '{"a":1}' },
      { type: "tool_call", id: "call_b", name: "g", arguments: "" },
      { type: "reasoning", text: "", redacted: "gAAAA-openai", origin: "openai" },
      {
        type: "tool_call",
        id: "call_c",
        name: "h",
        arguments: "{}",
        signature: "ts-1",
        origin: "gemini",
      },
      { type: "text", text: "After." },
      { type: "tool_call", id: "call_d", name: "k", arguments: "{}", signature: "ts-2" },
      { type: "image", source: { kind: "url", url: "https://x/y.png" } },
    ], { finishReason: "tool_calls" }),
    { ...REQ, reasoning: { includeThoughts: true } },
  );
  const shape = out.output.map((o) => {
    if (o.type !== "function_call") return o.type;
    const { id, carried } = decodeCallId(o.call_id);
    return `fc:${id}:${o.arguments}${carried ? `:${carried.signature}:${carried.origin}` : ""}`;
  });
  assert.deepEqual(shape, [
    "reasoning",
    "message",
    'fc:call_a:{"a":1}',
    "fc:call_b:{}",
    "reasoning",
    "fc:call_c:{}:ts-1:gemini",
    "message",
    "fc:call_d:{}:ts-2:undefined",
  ]);
  const [r0, , , , r4] = out.output;
  assert.ok(r0.type === "reasoning" && r4.type === "reasoning");
  assert.deepEqual(r0.summary, [{ type: "summary_text", text: "Let me think" }]);
  assert.deepEqual(decodeEnvelope(r0.encrypted_content!), {
    origin: "anthropic",
    signature: "sig-1",
  });
  // OpenAI's own encrypted content stays raw.
  assert.equal(r4.encrypted_content, "gAAAA-openai");
  assert.equal(out.status, "completed");
});

Deno.test("reasoning without a summary request is raw reasoning_text content", () => {
  const out = irResponseToResponses(res([{ type: "reasoning", text: "raw thoughts" }]), REQ);
  assert.deepEqual(out.output.map(({ id: _, ...rest }) => rest), [
    { type: "reasoning", summary: [], content: [{ type: "reasoning_text", text: "raw thoughts" }] },
  ]);
});

Deno.test("length and content_filter stops are incomplete; an error stop is failed", () => {
  const cut = irResponseToResponses(
    res([{ type: "text", text: "Once" }], { finishReason: "length" }),
    REQ,
  );
  assert.equal(cut.status, "incomplete");
  assert.deepEqual(cut.incomplete_details, { reason: "max_output_tokens" });
  assert.equal(cut.completed_at, null);
  assert.equal(cut.output[0].type === "message" && cut.output[0].status, "incomplete");

  const filtered = irResponseToResponses(res([], { finishReason: "content_filter" }), REQ);
  assert.equal(filtered.status, "incomplete");
  assert.deepEqual(filtered.incomplete_details, { reason: "content_filter" });

  const failed = irResponseToResponses(res([], { finishReason: "error" }), REQ);
  assert.equal(failed.status, "failed");
  assert.equal(failed.error?.code, "server_error");

  const other = irResponseToResponses(res([], { finishReason: "other", id: "resp_up" }), REQ);
  assert.equal(other.status, "completed");
  assert.equal(other.id, "resp_up", "a resp_ id from upstream is kept");
});

Deno.test("output items sent back as input restore the IR answer (stateless round trip)", () => {
  const content: IrPart[] = [
    { type: "reasoning", text: "Thinking", signature: "sig-9", origin: "anthropic" },
    { type: "text", text: "Using a tool." },
    {
      type: "tool_call",
      id: "call_1",
      name: "f",
      arguments: '{"q":"x"}',
      signature: "ts",
      origin: "gemini",
    },
  ];
  for (const includeThoughts of [true, false]) {
    const out = irResponseToResponses(res(content), { ...REQ, reasoning: { includeThoughts } });
    const ir = openAIResponsesFormat.toIr({
      model: "m",
      input: [{ role: "user", content: "q" }, ...out.output],
    }, {});
    assert.deepEqual(ir.messages[1], { role: "assistant", parts: content });
  }
});
