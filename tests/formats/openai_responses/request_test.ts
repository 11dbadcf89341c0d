import assert from "node:assert/strict";
import { RequestError } from "../../../src/errors.ts";
import { openAIResponsesFormat } from "../../../src/formats/openai_responses/format.ts";
import { encodeEnvelope } from "../../../src/formats/openai_responses/reasoning_envelope.ts";
import type { IrRequest } from "../../../src/ir/types.ts";

const FIXTURES = new URL("../../fixtures/openai_responses/", import.meta.url);

async function fixture(name: string): Promise<unknown> {
  return JSON.parse(await Deno.readTextFile(new URL(name, FIXTURES)));
}

function toIr(body: unknown): IrRequest {
  return openAIResponsesFormat.toIr(body, {});
}

function rejects(body: unknown, pattern: RegExp, code = "invalid_request"): void {
  assert.throws(() => toIr(body), (err: unknown) => {
    assert.ok(err instanceof RequestError, `got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

for (const name of ["simple_request", "image_request", "function_tools_request", "codex_request"]) {
  Deno.test(`golden: ${name} converts to the expected IR`, async () => {
    assert.deepEqual(toIr(await fixture(`${name}.json`)), await fixture(`${name}.ir.json`));
  });
}

Deno.test("reasoning, assistant text and consecutive function calls form one assistant turn", () => {
  const ir = toIr({
    model: "m",
    input: [
      { role: "user", content: "go" },
      { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "plan" }] },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "Let me." }] },
      { type: "function_call", call_id: "c1", name: "a", arguments: "" },
      { type: "function_call", call_id: "c2", name: "b", arguments: '{"x":1}' },
      { type: "function_call_output", call_id: "c1", output: "one" },
      {
        type: "function_call_output",
        call_id: "c2",
        output: [
          { type: "input_text", text: "two" },
          { type: "input_image", image_url: "https://example.com/a.png" },
          { type: "input_file", file_id: "file_1" },
        ],
      },
      { type: "reasoning", summary: [], encrypted_content: null },
      { role: "assistant", content: "done" },
    ],
  });
  assert.deepEqual(ir.messages, [
    { role: "user", parts: [{ type: "text", text: "go" }] },
    {
      role: "assistant",
      parts: [
        { type: "reasoning", text: "plan" },
        { type: "text", text: "Let me." },
        { type: "tool_call", id: "c1", name: "a", arguments: "{}" },
        { type: "tool_call", id: "c2", name: "b", arguments: '{"x":1}' },
      ],
    },
    {
      role: "tool",
      parts: [{
        type: "tool_result",
        toolCallId: "c1",
        name: "a",
        content: [{ type: "text", text: "one" }],
      }],
    },
    {
      role: "tool",
      parts: [{
        type: "tool_result",
        toolCallId: "c2",
        name: "b",
        content: [
          { type: "text", text: "two" },
          { type: "image", source: { kind: "url", url: "https://example.com/a.png" } },
        ],
      }],
    },
    { role: "assistant", parts: [{ type: "text", text: "done" }] },
  ]);
});

Deno.test("our reasoning envelopes restore signatures, redacted data and call signatures", () => {
  const thinking = encodeEnvelope({ origin: "anthropic", signature: "sig-A" });
  const gemini = encodeEnvelope({
    calls: [{ callId: "call_g", signature: "thought-sig", origin: "gemini" }],
  });
  assert.ok(thinking?.startsWith("llmproxy.v1."));
  const ir = toIr({
    model: "m",
    input: [
      { role: "user", content: "hi" },
      {
        type: "reasoning",
        summary: [{ type: "summary_text", text: "I think" }],
        encrypted_content: thinking,
      },
      {
        type: "reasoning",
        summary: [],
        encrypted_content: encodeEnvelope({ origin: "anthropic", redacted: "opaque" }),
      },
      { type: "reasoning", summary: [], encrypted_content: gemini },
      { type: "function_call", call_id: "call_g", name: "f", arguments: "{}" },
      {
        type: "reasoning",
        summary: [],
        content: [{ type: "reasoning_text", text: "raw" }],
        encrypted_content: "llmproxy.v1.!!not-base64",
      },
    ],
  });
  assert.deepEqual(ir.messages[1].parts, [
    { type: "reasoning", text: "I think", signature: "sig-A", origin: "anthropic" },
    { type: "reasoning", text: "", redacted: "opaque", origin: "anthropic" },
    {
      type: "tool_call",
      id: "call_g",
      name: "f",
      arguments: "{}",
      signature: "thought-sig",
      origin: "gemini",
    },
    // A broken envelope is treated as opaque OpenAI content, not an error.
    { type: "reasoning", text: "raw", redacted: "llmproxy.v1.!!not-base64", origin: "openai" },
  ]);
});

Deno.test("settings: reasoning effort, summaries, json_object, tool_choice variants", () => {
  const base = { model: "m", input: "x" };
  assert.deepEqual(toIr({ ...base, reasoning: { effort: "none" } }).reasoning, { enabled: false });
  assert.deepEqual(
    toIr({ ...base, reasoning: { effort: "xhigh", summary: "detailed" } }).reasoning,
    {
      effort: "high",
      includeThoughts: true,
    },
  );
  assert.equal(toIr({ ...base, reasoning: { summary: null } }).reasoning, undefined);
  assert.deepEqual(toIr({ ...base, text: { format: { type: "json_object" } } }).responseFormat, {
    type: "json_object",
  });
  assert.equal(toIr({ ...base, text: { format: { type: "text" } } }).responseFormat, undefined);
  assert.deepEqual(toIr({ ...base, tool_choice: "required" }).toolChoice, { type: "required" });
  assert.deepEqual(
    toIr({ ...base, tool_choice: { type: "allowed_tools", mode: "required", tools: [] } })
      .toolChoice,
    { type: "required" },
  );
  assert.equal(
    toIr({ ...base, tool_choice: { type: "web_search_preview" } }).toolChoice,
    undefined,
  );
  const streaming = toIr({ ...base, stream: true });
  assert.equal(streaming.stream, true);
  assert.equal(streaming.includeUsage, true, "Responses streams always carry usage");
  assert.deepEqual(toIr({ model: "m", input: "" }).messages, []);
});

Deno.test("unknown fields, item types, part types and tool types never cause a 400", () => {
  const ir = toIr({
    model: "m",
    input: [
      { type: "item_reference", id: "msg_1" },
      { type: "custom_tool_call", call_id: "x", name: "apply_patch", input: "*** Begin Patch" },
      {
        role: "user",
        content: [{ type: "input_audio", input_audio: {} }, { type: "text", text: "t" }],
      },
    ],
    tools: [
      { type: "custom", name: "apply_patch", format: { type: "grammar" } },
      { type: "file_search", vector_store_ids: ["vs_1"] },
      { type: "mcp", server_label: "x" },
    ],
    brand_new_field: { nested: true },
    truncation: "auto",
    service_tier: "flex",
    stream_options: { include_obfuscation: false },
  });
  assert.deepEqual(ir.messages, [{ role: "user", parts: [{ type: "text", text: "t" }] }]);
  assert.deepEqual(ir.tools, []);
});

Deno.test("errors name the field; unresolvable state is a clear 400", () => {
  rejects({ input: "x" }, /'model'/);
  rejects({ model: "m" }, /'input': input is required/);
  rejects({ model: "m", input: [{ role: "bot", content: "x" }] }, /'input\[0\]\.role'/);
  rejects({ model: "m", input: [{ content: "x" }] }, /'input\[0\]\.type'/);
  rejects(
    { model: "m", input: [{ type: "function_call", call_id: "c", name: "n" }] },
    /'input\[0\]\.arguments'/,
  );
  rejects(
    { model: "m", input: [{ role: "user", content: [{ type: "input_text" }] }] },
    /'input\[0\]\.content\[0\]\.text'/,
  );
  rejects({ model: "m", input: "x", tools: [{ type: "function" }] }, /'tools\[0\]\.name'/);
  rejects({ model: "m", input: "x", tool_choice: "sometimes" }, /'tool_choice'/);
  rejects({ model: "m", input: "x", max_output_tokens: 0 }, /'max_output_tokens'/);
  rejects(
    { model: "m", input: "x", text: { format: { type: "json_schema", name: "s" } } },
    /'text\.format\.schema'/,
  );
  rejects(
    { model: "m", input: "x", previous_response_id: "resp_1" },
    /previous_response_id is not supported: this gateway stores no responses unless its operator turns on .responses: { store: true }./,
    "unsupported_parameter",
  );
  rejects(
    { model: "m", input: "x", conversation: "conv_1" },
    /conversation is not supported/,
    "unsupported_parameter",
  );
  rejects(
    {
      model: "m",
      input: [{ role: "user", content: [{ type: "input_image", file_id: "file_1" }] }],
    },
    /'input\[0\]\.content\[0\]\.file_id': file references are not supported/,
    "unsupported_parameter",
  );
  // Explicit nulls are how some clients say "not set".
  const ir = toIr({ model: "m", input: "x", previous_response_id: null, tools: null, user: null });
  assert.deepEqual(ir.tools, []);
});
