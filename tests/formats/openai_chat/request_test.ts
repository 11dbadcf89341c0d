import assert from "node:assert/strict";
import { chatRequestToIr, imageFromUrl } from "../../../src/formats/openai_chat/request.ts";
import { chatRequestSchema } from "../../../src/formats/openai_chat/schema.ts";
import type { IrRequest } from "../../../src/ir/types.ts";

/** Validates through the schema first, as the route does, then converts. */
function toIr(body: Record<string, unknown>): IrRequest {
  return chatRequestToIr(chatRequestSchema.parse(body));
}

function user(content: unknown): Record<string, unknown> {
  return { role: "user", content };
}

Deno.test("a minimal request maps to an IR request with empty lists and no options", () => {
  const ir = toIr({ model: "gpt-4o", messages: [user("hi")] });
  assert.deepEqual(ir, {
    model: "gpt-4o",
    system: [],
    messages: [{ role: "user", parts: [{ type: "text", text: "hi" }] }],
    tools: [],
    stop: [],
    stream: false,
  });
});

Deno.test("leading system and developer messages become system parts", () => {
  const ir = toIr({
    model: "m",
    messages: [
      { role: "system", content: "You are terse." },
      { role: "developer", content: [{ type: "text", text: "Answer in French." }] },
      user("hi"),
      { role: "system", content: "Later instruction." },
      { role: "developer", content: "Later developer note." },
    ],
  });
  assert.deepEqual(ir.system, [
    { type: "text", text: "You are terse." },
    { type: "text", text: "Answer in French." },
  ]);
  assert.deepEqual(ir.messages, [
    { role: "user", parts: [{ type: "text", text: "hi" }] },
    { role: "system", parts: [{ type: "text", text: "Later instruction." }] },
    { role: "system", parts: [{ type: "text", text: "Later developer note." }] },
  ]);
});

Deno.test("user text parts keep their order; empty text is dropped", () => {
  const ir = toIr({
    model: "m",
    messages: [
      user([
        { type: "text", text: "one" },
        { type: "text", text: "" },
        { type: "input_audio", input_audio: { data: "x", format: "wav" } },
        { type: "text", text: "two" },
      ]),
      user(""),
    ],
  });
  assert.deepEqual(ir.messages, [
    { role: "user", parts: [{ type: "text", text: "one" }, { type: "text", text: "two" }] },
    { role: "user", parts: [] },
  ]);
});

Deno.test("image_url parts: data URLs become base64, http URLs stay URLs, detail kept", () => {
  const ir = toIr({
    model: "m",
    messages: [user([
      { type: "text", text: "what is this?" },
      { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
      { type: "image_url", image_url: { url: "https://example.com/cat.jpg", detail: "high" } },
    ])],
  });
  assert.deepEqual(ir.messages[0].parts, [
    { type: "text", text: "what is this?" },
    { type: "image", source: { kind: "base64", mediaType: "image/png", data: "iVBORw0KGgo=" } },
    {
      type: "image",
      source: { kind: "url", url: "https://example.com/cat.jpg" },
      detail: "high",
    },
  ]);
});

Deno.test("imageFromUrl handles jpeg data URLs and leaves non-base64 data URLs as URLs", () => {
  assert.deepEqual(imageFromUrl("data:image/jpeg;base64,/9j/4AAQ"), {
    type: "image",
    source: { kind: "base64", mediaType: "image/jpeg", data: "/9j/4AAQ" },
  });
  assert.deepEqual(imageFromUrl("data:image/svg+xml,%3Csvg%3E"), {
    type: "image",
    source: { kind: "url", url: "data:image/svg+xml,%3Csvg%3E" },
  });
  assert.deepEqual(imageFromUrl("http://127.0.0.1/x.png", "low"), {
    type: "image",
    source: { kind: "url", url: "http://127.0.0.1/x.png" },
    detail: "low",
  });
});

Deno.test("assistant messages carry reasoning, text and tool calls; empty arguments → {}", () => {
  const ir = toIr({
    model: "m",
    messages: [
      user("weather?"),
      {
        role: "assistant",
        content: "Let me check.",
        reasoning_content: "need the tool",
        tool_calls: [
          {
            id: "call_1",
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Paris"}' },
          },
          { id: "call_2", type: "function", function: { name: "get_time", arguments: "" } },
          { id: "call_3", function: { name: "no_args" } },
        ],
      },
      { role: "assistant", content: null, reasoning_content: "" },
    ],
  });
  assert.deepEqual(ir.messages[1], {
    role: "assistant",
    parts: [
      { type: "reasoning", text: "need the tool" },
      { type: "text", text: "Let me check." },
      { type: "tool_call", id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
      { type: "tool_call", id: "call_2", name: "get_time", arguments: "{}" },
      { type: "tool_call", id: "call_3", name: "no_args", arguments: "{}" },
    ],
  });
  assert.deepEqual(ir.messages[2], { role: "assistant", parts: [] });
});

Deno.test("tool messages become tool_result parts; legacy function messages use the name", () => {
  const ir = toIr({
    model: "m",
    messages: [
      user("q"),
      { role: "tool", tool_call_id: "call_1", content: '{"temp":21}' },
      {
        role: "tool",
        tool_call_id: "call_2",
        content: [{ type: "text", text: "part a" }, { type: "text", text: "part b" }],
      },
      { role: "function", name: "legacy_fn", content: "legacy result" },
    ],
  });
  assert.deepEqual(ir.messages.slice(1), [
    {
      role: "tool",
      parts: [{
        type: "tool_result",
        toolCallId: "call_1",
        content: [{ type: "text", text: '{"temp":21}' }],
      }],
    },
    {
      role: "tool",
      parts: [{
        type: "tool_result",
        toolCallId: "call_2",
        content: [{ type: "text", text: "part a" }, { type: "text", text: "part b" }],
      }],
    },
    {
      role: "tool",
      parts: [{
        type: "tool_result",
        toolCallId: "legacy_fn",
        name: "legacy_fn",
        content: [{ type: "text", text: "legacy result" }],
      }],
    },
  ]);
});

Deno.test("stop accepts a string or an array; null means none", () => {
  assert.deepEqual(toIr({ model: "m", messages: [user("x")], stop: "END" }).stop, ["END"]);
  assert.deepEqual(toIr({ model: "m", messages: [user("x")], stop: ["a", "b"] }).stop, ["a", "b"]);
  assert.deepEqual(toIr({ model: "m", messages: [user("x")], stop: null }).stop, []);
});

Deno.test("max_completion_tokens wins over max_tokens; either alone is used", () => {
  const base = { model: "m", messages: [user("x")] };
  assert.equal(toIr({ ...base, max_tokens: 100, max_completion_tokens: 50 }).maxTokens, 50);
  assert.equal(toIr({ ...base, max_tokens: 100 }).maxTokens, 100);
  assert.equal(toIr({ ...base, max_completion_tokens: 70 }).maxTokens, 70);
  assert.equal(toIr({ ...base, max_tokens: 100, max_completion_tokens: null }).maxTokens, 100);
  assert.equal("maxTokens" in toIr(base), false);
});

Deno.test("sampling options, user, parallel_tool_calls and reasoning_effort are copied", () => {
  const ir = toIr({
    model: "m",
    messages: [user("x")],
    temperature: 0,
    top_p: 0.5,
    seed: 7,
    n: 2,
    user: "u-1",
    parallel_tool_calls: false,
    reasoning_effort: "high",
  });
  assert.equal(ir.temperature, 0);
  assert.equal(ir.topP, 0.5);
  assert.equal(ir.seed, 7);
  assert.equal(ir.n, 2);
  assert.equal(ir.user, "u-1");
  assert.equal(ir.parallelToolCalls, false);
  assert.deepEqual(ir.reasoning, { effort: "high" });
  assert.equal(
    toIr({ model: "m", messages: [user("x")], reasoning_effort: "bogus" }).reasoning,
    undefined,
  );
});

Deno.test("response_format json_schema and json_object map to IR; text maps to nothing", () => {
  const schema = { type: "object", properties: { a: { type: "string" } }, required: ["a"] };
  const ir = toIr({
    model: "m",
    messages: [user("x")],
    response_format: {
      type: "json_schema",
      json_schema: { name: "answer", schema, strict: true },
    },
  });
  assert.deepEqual(ir.responseFormat, {
    type: "json_schema",
    schema,
    name: "answer",
    strict: true,
  });
  const noName = toIr({
    model: "m",
    messages: [user("x")],
    response_format: { type: "json_schema", json_schema: { schema } },
  });
  assert.deepEqual(noName.responseFormat, { type: "json_schema", schema });
  assert.deepEqual(
    toIr({ model: "m", messages: [user("x")], response_format: { type: "json_object" } })
      .responseFormat,
    { type: "json_object" },
  );
  assert.equal(
    toIr({ model: "m", messages: [user("x")], response_format: { type: "text" } }).responseFormat,
    undefined,
  );
});

Deno.test("stream and stream_options.include_usage", () => {
  const base = { model: "m", messages: [user("x")] };
  const streaming = toIr({ ...base, stream: true, stream_options: { include_usage: true } });
  assert.equal(streaming.stream, true);
  assert.equal(streaming.includeUsage, true);
  const noUsage = toIr({ ...base, stream: true, stream_options: { include_usage: false } });
  assert.equal(noUsage.includeUsage, undefined);
  assert.equal(toIr({ ...base, stream: true }).includeUsage, undefined);
  assert.equal(toIr({ ...base, stream: null }).stream, false);
});

Deno.test("tools: function tools map to IR; parameters default to an empty object schema", () => {
  const params = { type: "object", properties: { city: { type: "string" } } };
  const ir = toIr({
    model: "m",
    messages: [user("x")],
    tools: [
      {
        type: "function",
        function: { name: "get_weather", description: "Weather", parameters: params },
      },
      { type: "function", function: { name: "ping" } },
      { type: "web_search_preview" },
    ],
  });
  assert.deepEqual(ir.tools, [
    { name: "get_weather", description: "Weather", parameters: params },
    { name: "ping", parameters: { type: "object", properties: {} } },
  ]);
});

Deno.test("tool_choice: string forms and the named function form", () => {
  const base = { model: "m", messages: [user("x")] };
  for (const type of ["auto", "none", "required"] as const) {
    assert.deepEqual(toIr({ ...base, tool_choice: type }).toolChoice, { type });
  }
  assert.deepEqual(
    toIr({ ...base, tool_choice: { type: "function", function: { name: "get_weather" } } })
      .toolChoice,
    { type: "tool", name: "get_weather" },
  );
  assert.equal(toIr({ ...base, tool_choice: null }).toolChoice, undefined);
});

Deno.test("chatRequestSchema rejects what the converter relies on", () => {
  const bad: Array<Record<string, unknown>> = [
    { messages: [user("x")] },
    { model: "", messages: [user("x")] },
    { model: "m" },
    { model: "m", messages: [] },
    { model: "m", messages: [{ role: "wizard", content: "x" }] },
    { model: "m", messages: [{ role: "tool", content: "x" }] },
    { model: "m", messages: [user("x")], temperature: 3 },
    { model: "m", messages: [user("x")], max_tokens: 0 },
    { model: "m", messages: [user("x")], tool_choice: "sometimes" },
  ];
  for (const body of bad) {
    assert.equal(chatRequestSchema.safeParse(body).success, false, JSON.stringify(body));
  }
  // Unknown top-level fields pass through.
  assert.equal(
    chatRequestSchema.safeParse({ model: "m", messages: [user("x")], store: true, metadata: {} })
      .success,
    true,
  );
});
