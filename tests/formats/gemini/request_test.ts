import assert from "node:assert/strict";
import { RequestError } from "../../../src/errors.ts";
import { geminiFormat } from "../../../src/formats/gemini/format.ts";
import { irToGeminiRequest } from "../../../src/formats/gemini/request.ts";
import type { GeminiWireContent } from "../../../src/formats/gemini/schema.ts";
import type { IrRequest, IrToolCallPart, IrToolResultPart } from "../../../src/ir/types.ts";

const FIXTURES = new URL("../../fixtures/gemini/", import.meta.url);

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(Deno.readTextFileSync(new URL(name, FIXTURES)));
}

function toIr(body: unknown, model = "gemini-2.5-flash"): IrRequest {
  return geminiFormat.toIr(body, { model, stream: false });
}

/** A content without the call ids the gateway adds toward Gemini. */
function withoutIds(content: GeminiWireContent): GeminiWireContent {
  return {
    ...content,
    parts: content.parts.map((p) => {
      if (p.functionCall) {
        const { id: _, ...call } = p.functionCall;
        return { ...p, functionCall: call };
      }
      return p;
    }),
  };
}

function baseIr(extra: Partial<IrRequest> = {}): IrRequest {
  return { model: "m", system: [], messages: [], tools: [], stop: [], stream: false, ...extra };
}

for (const name of ["request_function_calling", "request_snake_case", "request_json_mode"]) {
  Deno.test(`golden client request → IR: ${name}`, () => {
    const fx = fixture(`${name}.json`);
    const ir = geminiFormat.toIr(fx.wire, fx.hints as { model: string });
    assert.deepEqual(ir, fx.ir);
  });
}

Deno.test("golden IR → upstream request: foreign history to Gemini 3", async () => {
  const fx = fixture("upstream_request_from_ir.json");
  const wire = await irToGeminiRequest(fx.ir as IrRequest, fx.options as { model: string });
  assert.deepEqual(wire, fx.wire);
});

Deno.test("ids: the same history yields the same ids, request after request", () => {
  const fx = fixture("request_function_calling.json");
  const a = toIr(fx.wire);
  const b = toIr(structuredClone(fx.wire));
  const ids = (ir: IrRequest) =>
    ir.messages.flatMap((m) => m.parts).flatMap((p) =>
      p.type === "tool_call" ? [p.id] : p.type === "tool_result" ? [p.toolCallId] : []
    );
  assert.deepEqual(ids(a), ids(b));
  assert.equal(new Set(ids(a).filter((id) => id.includes("showtimes"))).size, 2);
});

Deno.test("ids: a later turn keeps the earlier turns' ids (history grows at the end)", () => {
  const turn1 = {
    contents: [
      { role: "user", parts: [{ text: "weather in Paris and Rome?" }] },
      {
        role: "model",
        parts: [
          { functionCall: { name: "get_weather", args: { city: "Paris" } } },
          { functionCall: { name: "get_weather", args: { city: "Rome" } } },
        ],
      },
      {
        role: "user",
        parts: [
          { functionResponse: { name: "get_weather", response: { result: "sunny" } } },
          { functionResponse: { name: "get_weather", response: { result: "rain" } } },
        ],
      },
    ],
  };
  const turn2 = structuredClone(turn1);
  turn2.contents.push(
    { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Oslo" } } }] },
    {
      role: "user",
      parts: [{ functionResponse: { name: "get_weather", response: { result: "snow" } } }],
    },
  );
  const calls = (ir: IrRequest) =>
    ir.messages.flatMap((m) => m.parts).filter((p): p is IrToolCallPart => p.type === "tool_call");
  const results = (ir: IrRequest) =>
    ir.messages.flatMap((m) => m.parts).filter((p): p is IrToolResultPart =>
      p.type === "tool_result"
    );
  const one = toIr(turn1);
  const two = toIr(turn2);
  assert.deepEqual(calls(two).slice(0, 2), calls(one));
  assert.deepEqual(calls(two).map((c) => c.id), [
    "call_get_weather_0",
    "call_get_weather_1",
    "call_get_weather_2",
  ]);
  // Parallel calls to the same function are answered in order, each by its own id.
  const pairs = results(two).map((r) => [r.toolCallId, r.content[0]]);
  assert.deepEqual(pairs, [
    ["call_get_weather_0", { type: "text", text: "sunny" }],
    ["call_get_weather_1", { type: "text", text: "rain" }],
    ["call_get_weather_2", { type: "text", text: "snow" }],
  ]);
});

Deno.test("ids: explicit ids on calls are used; a response's unknown id falls back to name order", () => {
  const ir = toIr({
    contents: [
      { role: "user", parts: [{ text: "go" }] },
      {
        role: "model",
        parts: [
          { functionCall: { id: "abc", name: "read_file", args: { path: "a" } } },
          { functionCall: { name: "read_file", args: { path: "b" } } },
        ],
      },
      {
        role: "user",
        parts: [
          // Gemini CLI answers with ids of its own invention.
          {
            functionResponse: {
              id: "read_file-1732-0.5",
              name: "read_file",
              response: { output: "A" },
            },
          },
          { functionResponse: { name: "read_file", response: { output: "B" } } },
        ],
      },
    ],
  });
  const parts = ir.messages.flatMap((m) => m.parts);
  const callIds = parts.flatMap((p) => p.type === "tool_call" ? [p.id] : []);
  const resultIds = parts.flatMap((p) => p.type === "tool_result" ? [p.toolCallId] : []);
  assert.deepEqual(callIds, ["abc", "call_read_file_1"]);
  assert.deepEqual(resultIds, ["abc", "call_read_file_1"]);
});

Deno.test("ids: a response naming a call id explicitly is matched out of order", () => {
  const ir = toIr({
    contents: [
      { role: "user", parts: [{ text: "go" }] },
      {
        role: "model",
        parts: [
          { functionCall: { id: "c1", name: "f", args: {} } },
          { functionCall: { id: "c2", name: "f", args: {} } },
        ],
      },
      {
        role: "user",
        parts: [
          { functionResponse: { id: "c2", name: "f", response: { result: "two" } } },
          { functionResponse: { id: "c1", name: "f", response: { result: "one" } } },
        ],
      },
    ],
  });
  const results = ir.messages.flatMap((m) => m.parts).flatMap((p) =>
    p.type === "tool_result" ? [[p.toolCallId, p.content[0]]] : []
  );
  assert.deepEqual(results, [
    ["c2", { type: "text", text: "two" }],
    ["c1", { type: "text", text: "one" }],
  ]);
});

Deno.test("ids: names with dots or colons give ids other formats accept", () => {
  const ir = toIr({
    contents: [
      { role: "user", parts: [{ text: "go" }] },
      { role: "model", parts: [{ functionCall: { name: "mcp.server:tool", args: {} } }] },
    ],
  });
  const call = ir.messages[1].parts[0] as IrToolCallPart;
  assert.match(call.id, /^[A-Za-z0-9_-]+$/);
  assert.equal(call.name, "mcp.server:tool");
});

Deno.test("IR → Gemini: tool_result name comes from the earlier call; unknown ids are a 400", async () => {
  const ir = baseIr({
    messages: [
      { role: "user", parts: [{ type: "text", text: "hi" }] },
      {
        role: "assistant",
        parts: [{ type: "tool_call", id: "call_9", name: "search", arguments: '{"q":"x"}' }],
      },
      {
        role: "tool",
        parts: [{
          type: "tool_result",
          toolCallId: "call_9",
          content: [{ type: "text", text: "plain words" }],
        }],
      },
    ],
  });
  const wire = await irToGeminiRequest(ir);
  assert.deepEqual(wire.contents[2], {
    role: "user",
    parts: [{
      functionResponse: { id: "call_9", name: "search", response: { result: "plain words" } },
    }],
  });

  ir.messages[2].parts = [{ type: "tool_result", toolCallId: "nope", content: [] }];
  await assert.rejects(() => irToGeminiRequest(ir), (err: unknown) => {
    assert.ok(err instanceof RequestError);
    assert.equal(err.status, 400);
    assert.match(err.message, /nope/);
    return true;
  });
});

Deno.test("IR → Gemini: tool result shapes (object as is, array and text wrapped, errors)", async () => {
  const results: Array<[string, boolean, unknown]> = [
    ['{"a":1}', false, { a: 1 }],
    ["[1,2]", false, { result: [1, 2] }],
    ["42", false, { result: "42" }],
    ["", false, { result: "" }],
    ["not json", false, { result: "not json" }],
    ['{"a":1}', true, { error: '{"a":1}' }],
  ];
  for (const [text, isError, expected] of results) {
    const wire = await irToGeminiRequest(baseIr({
      messages: [
        { role: "assistant", parts: [{ type: "tool_call", id: "c", name: "f", arguments: "{}" }] },
        {
          role: "tool",
          parts: [{
            type: "tool_result",
            toolCallId: "c",
            isError,
            content: text === "" ? [] : [{ type: "text", text }],
          }],
        },
      ],
    }));
    assert.deepEqual(wire.contents[1].parts[0].functionResponse?.response, expected, text);
  }
});

Deno.test("IR → Gemini: roles alternate, empty texts and empty turns drop, system turns move", async () => {
  const wire = await irToGeminiRequest(baseIr({
    system: [{ type: "text", text: "sys" }],
    messages: [
      { role: "user", parts: [{ type: "text", text: "a" }] },
      { role: "user", parts: [{ type: "text", text: "" }, { type: "text", text: "b" }] },
      { role: "system", parts: [{ type: "text", text: "later rule" }] },
      { role: "assistant", parts: [{ type: "text", text: "" }] },
      { role: "assistant", parts: [{ type: "text", text: "c" }] },
      { role: "assistant", parts: [{ type: "text", text: "d" }] },
    ],
  }));
  assert.deepEqual(wire.contents, [
    { role: "user", parts: [{ text: "a" }, { text: "b" }] },
    { role: "model", parts: [{ text: "c" }, { text: "d" }] },
  ]);
  assert.deepEqual(wire.systemInstruction, { parts: [{ text: "sys" }, { text: "later rule" }] });
});

Deno.test("IR → Gemini: Gemini signatures survive a round trip; foreign reasoning is dropped", async () => {
  const fx = fixture("request_function_calling.json");
  const ir = toIr(fx.wire);
  const back = await irToGeminiRequest(ir, { model: "gemini-2.5-flash" });
  const wire = fx.wire as { contents: Array<{ role: string; parts: unknown[] }> };
  // The model turns come back as the client sent them, with the call ids added.
  assert.deepEqual(withoutIds(back.contents[1]), wire.contents[1]);
  assert.deepEqual(withoutIds(back.contents[3]), wire.contents[3]);
  assert.ok(back.contents[1].parts.some((p) => p.functionCall?.id?.startsWith("call_")));

  const foreign = await irToGeminiRequest(baseIr({
    messages: [{
      role: "assistant",
      parts: [
        { type: "reasoning", text: "hmm", signature: "anthropic-sig", origin: "anthropic" },
        { type: "reasoning", text: "openai-ish" },
        {
          type: "tool_call",
          id: "t",
          name: "f",
          arguments: "{}",
          signature: "foreign",
          origin: "openai",
        },
      ],
    }],
  }));
  assert.deepEqual(foreign.contents, [{
    role: "model",
    parts: [{ functionCall: { id: "t", name: "f", args: {} } }],
  }]);
});

Deno.test("IR → Gemini: a missing signature is filled only on the first call of a model turn", async () => {
  const wire = await irToGeminiRequest(
    baseIr({
      messages: [{
        role: "assistant",
        parts: [
          { type: "tool_call", id: "a", name: "f", arguments: "{}" },
          { type: "tool_call", id: "b", name: "f", arguments: "{}" },
        ],
      }, {
        role: "tool",
        parts: [
          { type: "tool_result", toolCallId: "a", content: [] },
          { type: "tool_result", toolCallId: "b", content: [] },
        ],
      }, {
        role: "assistant",
        parts: [{
          type: "tool_call",
          id: "c",
          name: "f",
          arguments: "{}",
          signature: "real",
          origin: "gemini",
        }],
      }],
    }),
    { missingThoughtSignature: "skip_thought_signature_validator" },
  );
  assert.equal(wire.contents[0].parts[0].thoughtSignature, "skip_thought_signature_validator");
  assert.equal(wire.contents[0].parts[1].thoughtSignature, undefined);
  assert.equal(wire.contents[2].parts[0].thoughtSignature, "real");
});

Deno.test("IR → Gemini: tool choice, JSON mode, n, and tools as parametersJsonSchema", async () => {
  const tools = [{
    name: "f",
    parameters: {
      $schema: "x",
      type: "object",
      properties: { a: { type: "string" } },
      additionalProperties: false,
    },
  }];
  const cases: Array<[IrRequest["toolChoice"], unknown]> = [
    [{ type: "auto" }, { mode: "AUTO" }],
    [{ type: "none" }, { mode: "NONE" }],
    [{ type: "required" }, { mode: "ANY" }],
    [{ type: "tool", name: "f" }, { mode: "ANY", allowedFunctionNames: ["f"] }],
  ];
  for (const [choice, expected] of cases) {
    const wire = await irToGeminiRequest(baseIr({ tools, toolChoice: choice }));
    assert.deepEqual(wire.toolConfig?.functionCallingConfig, expected);
  }
  const wire = await irToGeminiRequest(
    baseIr({
      tools,
      n: 3,
      responseFormat: {
        type: "json_schema",
        schema: { $schema: "x", type: "object", additionalProperties: false },
      },
    }),
    { toolSchema: "parametersJsonSchema" },
  );
  assert.deepEqual(wire.tools?.[0].functionDeclarations[0], {
    name: "f",
    parametersJsonSchema: {
      type: "object",
      properties: { a: { type: "string" } },
      additionalProperties: false,
    },
  });
  assert.equal(wire.generationConfig?.candidateCount, 3);
  assert.equal(wire.generationConfig?.responseMimeType, "application/json");
  assert.deepEqual(wire.generationConfig?.responseJsonSchema, {
    type: "object",
    additionalProperties: false,
  });

  const json = await irToGeminiRequest(baseIr({ responseFormat: { type: "json_object" } }));
  assert.deepEqual(json.generationConfig, { responseMimeType: "application/json" });
  const none = await irToGeminiRequest(baseIr({ toolChoice: { type: "auto" }, n: 1 }));
  assert.equal(none.toolConfig, undefined, "no toolConfig without tools");
  assert.equal(none.generationConfig, undefined);
});

Deno.test("IR → Gemini: reasoning maps to one of thinkingBudget or thinkingLevel", async () => {
  const cases: Array<[IrRequest["reasoning"], string, unknown]> = [
    [{ effort: "high" }, "gemini-3-pro-preview", { thinkingLevel: "high" }],
    [{ effort: "low" }, "gemini-2.5-flash", { thinkingBudget: 1024 }],
    [{ budgetTokens: 3000, effort: "low" }, "gemini-3-pro-preview", { thinkingBudget: 3000 }],
    [{ enabled: false }, "gemini-2.5-flash", { thinkingBudget: 0, includeThoughts: false }],
    [{ enabled: false }, "gemini-3-flash-preview", {
      thinkingLevel: "low",
      includeThoughts: false,
    }],
    [{ enabled: true, includeThoughts: true }, "gemini-2.5-pro", {
      thinkingBudget: -1,
      includeThoughts: true,
    }],
    [{ enabled: true }, "gemini-3-pro-preview", undefined],
  ];
  for (const [reasoning, model, expected] of cases) {
    const wire = await irToGeminiRequest(baseIr({ reasoning }), { model });
    assert.deepEqual(
      wire.generationConfig?.thinkingConfig,
      expected,
      `${model} ${JSON.stringify(reasoning)}`,
    );
  }
});

Deno.test("client → IR: thinkingBudget 0 / -1, tool choice modes, JSON without schema", () => {
  const ir = (gen: unknown, toolConfig?: unknown) =>
    toIr({ contents: [{ parts: [{ text: "x" }] }], generationConfig: gen, toolConfig });
  assert.deepEqual(ir({ thinkingConfig: { thinkingBudget: 0 } }).reasoning, { enabled: false });
  assert.deepEqual(
    ir({ thinkingConfig: { thinkingBudget: -1, thinkingLevel: "high" } }).reasoning,
    {
      enabled: true,
      effort: "high",
    },
  );
  assert.deepEqual(ir({ responseMimeType: "application/json" }).responseFormat, {
    type: "json_object",
  });
  assert.deepEqual(
    ir({ responseMimeType: "application/json", responseSchema: { type: "STRING", enum: ["a"] } })
      .responseFormat,
    { type: "json_schema", schema: { type: "string", enum: ["a"] } },
  );
  assert.equal(ir({ responseMimeType: "text/plain" }).responseFormat, undefined);
  assert.deepEqual(ir({}, { functionCallingConfig: { mode: "none" } }).toolChoice, {
    type: "none",
  });
  assert.deepEqual(ir({}, { functionCallingConfig: { mode: "ANY" } }).toolChoice, {
    type: "required",
  });
  assert.deepEqual(
    ir({}, { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["a", "b"] } }).toolChoice,
    { type: "required" },
  );
  assert.deepEqual(ir({}, { functionCallingConfig: { mode: "VALIDATED" } }).toolChoice, {
    type: "auto",
  });
});

Deno.test("client → IR: tolerated extras (code execution, unknown parts, role-less turns)", () => {
  const ir = toIr({
    contents: [
      { parts: [{ text: "compute" }, { videoMetadata: { fps: 1 } }, { text: "" }] },
      {
        role: "model",
        parts: [
          { executableCode: { language: "PYTHON", code: "print(1+1)" } },
          { codeExecutionResult: { outcome: "OUTCOME_OK", output: "2\n" } },
          { text: "" },
        ],
      },
      { role: "model" },
    ],
    tools: [{ codeExecution: {} }, { googleSearch: {} }],
    someFutureField: { x: 1 },
    systemInstruction: "plain string system",
  });
  assert.deepEqual(ir.system, [{ type: "text", text: "plain string system" }]);
  assert.deepEqual(ir.messages, [
    { role: "user", parts: [{ type: "text", text: "compute" }] },
    {
      role: "assistant",
      parts: [
        { type: "text", text: "```python\nprint(1+1)\n```" },
        { type: "text", text: "2\n" },
      ],
    },
  ]);
  assert.deepEqual(ir.tools, []);
});

Deno.test("client → IR: validation errors name the field", () => {
  const cases: Array<[unknown, RegExp]> = [
    [{}, /contents/],
    [{ contents: [] }, /contents/],
    [{ contents: [{ role: "assistant", parts: [{ text: "x" }] }] }, /contents\[0\]\.role/],
    [{ contents: [{ parts: [{ text: 5 }] }] }, /contents\[0\]\.parts\[0\]\.text/],
    [
      { contents: [{ parts: [{ text: "x" }] }], generationConfig: { maxOutputTokens: -1 } },
      /generationConfig\.maxOutputTokens/,
    ],
    [{
      contents: [{ parts: [{ text: "x" }] }],
      toolConfig: { functionCallingConfig: { mode: "SOMETIMES" } },
    }, /functionCallingConfig\.mode/],
    [{ contents: [{ parts: [{ functionCall: { args: {} } }] }] }, /functionCall\.name/],
  ];
  for (const [body, re] of cases) {
    assert.throws(() => toIr(body), (err: unknown) => {
      assert.ok(err instanceof RequestError, String(err));
      assert.equal(err.status, 400);
      assert.match(err.message, re);
      return true;
    });
  }
  assert.throws(() => geminiFormat.toIr({ contents: [{ parts: [{ text: "x" }] }] }, {}), /model/);
});

Deno.test("client → IR: countTokens bodies may wrap a generateContentRequest", () => {
  const ir = toIr({
    generateContentRequest: {
      model: "models/gemini-2.5-flash",
      contents: [{ role: "user", parts: [{ text: "count me" }] }],
    },
  });
  assert.deepEqual(ir.messages, [{ role: "user", parts: [{ type: "text", text: "count me" }] }]);
});

Deno.test("IR → Gemini: Files API and YouTube URLs go by reference, data: URLs inline", async () => {
  const wire = await irToGeminiRequest(
    baseIr({
      messages: [{
        role: "user",
        parts: [
          {
            type: "image",
            source: {
              kind: "url",
              url: "https://generativelanguage.googleapis.com/v1beta/files/x",
            },
          },
          {
            type: "image",
            source: { kind: "url", url: "https://www.youtube.com/watch?v=9hE5-98ZeCg" },
          },
          { type: "image", source: { kind: "url", url: "data:image/gif;base64,R0lGOD" } },
        ],
      }],
    }),
    {
      images: {
        resolve: () => Promise.reject(new Error("must not resolve")),
        send: () => Promise.reject(new Error("must not fetch")),
      },
    },
  );
  assert.deepEqual(wire.contents[0].parts, [
    { fileData: { fileUri: "https://generativelanguage.googleapis.com/v1beta/files/x" } },
    { fileData: { fileUri: "https://www.youtube.com/watch?v=9hE5-98ZeCg" } },
    { inlineData: { mimeType: "image/gif", data: "R0lGOD" } },
  ]);
});
