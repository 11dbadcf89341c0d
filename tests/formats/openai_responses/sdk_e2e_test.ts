import assert from "node:assert/strict";
import OpenAI from "openai";
import { toGatewayError } from "../../../src/errors.ts";
import { errorResponse } from "../../../src/formats/caller_format.ts";
import { openAIResponsesFormat } from "../../../src/formats/openai_responses/format.ts";
import type { IrEvent, IrPart, IrRequest, IrResponse } from "../../../src/ir/types.ts";

/**
 * End-to-end proof with the official OpenAI SDK: a tiny loopback server runs the format's
 * toIr → canned IR answer → fromIrResponse / encodeStream, and the SDK must read the result
 * (non-streaming, streaming iteration, the stream helper, errors).
 */

const START: IrEvent = {
  type: "start",
  id: "chatcmpl-1",
  model: "canned-model",
  created: 1700000000,
};

/** Canned answers by model name. */
const ANSWERS: Record<string, IrEvent[]> = {
  text: [
    START,
    { type: "text_delta", text: "Hello" },
    { type: "text_delta", text: ", world" },
    {
      type: "finish",
      reason: "stop",
      usage: { inputTokens: 10, outputTokens: 5, cachedInputTokens: 2 },
    },
  ],
  tool: [
    START,
    { type: "tool_call_start", index: 0, id: "call_1", name: "get_weather" },
    { type: "tool_call_delta", index: 0, argumentsDelta: '{"city":' },
    { type: "tool_call_delta", index: 0, argumentsDelta: '"Paris"}' },
    { type: "tool_call_end", index: 0 },
    { type: "tool_call_start", index: 1, id: "call_2", name: "get_time" },
    { type: "tool_call_end", index: 1 },
    { type: "finish", reason: "tool_calls", usage: { inputTokens: 20, outputTokens: 9 } },
  ],
  reasoning: [
    START,
    { type: "reasoning_delta", text: "Thinking" },
    { type: "reasoning_delta", text: " hard" },
    { type: "reasoning_delta", text: "", signature: "sig-1", origin: "anthropic" },
    { type: "text_delta", text: "Answer" },
    {
      type: "finish",
      reason: "stop",
      usage: { inputTokens: 3, outputTokens: 12, reasoningTokens: 7 },
    },
  ],
  length: [
    START,
    { type: "text_delta", text: "Once upon" },
    { type: "finish", reason: "length", usage: { inputTokens: 4, outputTokens: 2 } },
  ],
  // Interleaved parallel calls, a Gemini-signed call and a redacted-only thinking block.
  mixed: [
    START,
    { type: "reasoning_delta", text: "", redacted: "opaque-thinking", origin: "anthropic" },
    {
      type: "tool_call_start",
      index: 0,
      id: "call_a",
      name: "f",
      signature: "ts",
      origin: "gemini",
    },
    { type: "tool_call_delta", index: 0, argumentsDelta: '{"n":' },
    { type: "tool_call_start", index: 1, id: "call_b", name: "g" },
    { type: "tool_call_delta", index: 1, argumentsDelta: "{}" },
    { type: "tool_call_delta", index: 0, argumentsDelta: "1}" },
    { type: "finish", reason: "tool_calls" },
  ],
  error: [
    START,
    { type: "text_delta", text: "partial" },
    { type: "error", status: 502, message: "The upstream broke off mid-answer." },
  ],
};

/** Folds IR events into the non-streaming IR answer. */
function collect(events: IrEvent[]): IrResponse {
  const res: IrResponse = { id: "", model: "", created: 0, content: [], finishReason: "stop" };
  const calls = new Map<number, Extract<IrPart, { type: "tool_call" }>>();
  for (const e of events) {
    const last = res.content.at(-1);
    if (e.type === "start") Object.assign(res, { id: e.id, model: e.model, created: e.created });
    else if (e.type === "text_delta") {
      if (last?.type === "text") last.text += e.text;
      else res.content.push({ type: "text", text: e.text });
    } else if (e.type === "reasoning_delta") {
      if (last?.type === "reasoning") last.text += e.text;
      else res.content.push({ type: "reasoning", text: e.text });
      const r = res.content.at(-1) as Extract<IrPart, { type: "reasoning" }>;
      if (e.signature) r.signature = e.signature;
      if (e.origin) r.origin = e.origin;
    } else if (e.type === "tool_call_start") {
      const part: Extract<IrPart, { type: "tool_call" }> = {
        type: "tool_call",
        id: e.id,
        name: e.name,
        arguments: "",
      };
      calls.set(e.index, part);
      res.content.push(part);
    } else if (e.type === "tool_call_delta") calls.get(e.index)!.arguments += e.argumentsDelta;
    else if (e.type === "finish") {
      res.finishReason = e.reason;
      if (e.usage) res.usage = e.usage;
    }
  }
  return res;
}

interface CannedServer {
  baseURL: string;
  requests: IrRequest[];
  close(): Promise<void>;
}

function startCannedServer(): CannedServer {
  const requests: IrRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      try {
        const url = new URL(req.url);
        if (req.method !== "POST" || url.pathname !== "/v1/responses") {
          return new Response("not found", { status: 404 });
        }
        const ir = openAIResponsesFormat.toIr(await req.json(), {});
        requests.push(ir);
        const events = ANSWERS[ir.model] ?? ANSWERS.text;
        if (!ir.stream) {
          return Response.json(openAIResponsesFormat.fromIrResponse(collect(events), ir));
        }
        const encoded = openAIResponsesFormat.encodeStream(ir, {});
        return new Response(
          ReadableStream.from(events).pipeThrough(new TransformStream(encoded.transformer)),
          {
            headers: { "content-type": encoded.contentType },
          },
        );
      } catch (err) {
        return errorResponse(toGatewayError(err), openAIResponsesFormat.caller);
      }
    },
  );
  return {
    baseURL: `http://127.0.0.1:${server.addr.port}/v1`,
    requests,
    close: () => server.shutdown(),
  };
}

async function withClient(fn: (client: OpenAI, server: CannedServer) => Promise<void>) {
  const server = startCannedServer();
  try {
    await fn(new OpenAI({ baseURL: server.baseURL, apiKey: "x", maxRetries: 0 }), server);
  } finally {
    await server.close();
  }
}

Deno.test("SDK non-streaming: text answer with output_text and usage", async () => {
  await withClient(async (client, server) => {
    const res = await client.responses.create({
      model: "text",
      instructions: "Be brief.",
      input: "Say hello",
      temperature: 0.5,
    });
    assert.equal(res.object, "response");
    assert.match(res.id, /^resp_/);
    assert.equal(res.status, "completed");
    assert.equal(res.output_text, "Hello, world");
    assert.equal(res.model, "canned-model");
    assert.equal(res.temperature, 0.5);
    assert.equal(res.error, null);
    assert.equal(res.incomplete_details, null);
    const msg = res.output[0];
    assert.ok(msg.type === "message");
    assert.match(msg.id, /^msg_/);
    assert.deepEqual(msg.content, [
      { type: "output_text", text: "Hello, world", annotations: [], logprobs: [] },
    ]);
    assert.deepEqual(res.usage, {
      input_tokens: 10,
      input_tokens_details: { cached_tokens: 2 },
      output_tokens: 5,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 15,
    });
    const ir = server.requests[0];
    assert.deepEqual(ir.system, [{ type: "text", text: "Be brief." }]);
    assert.deepEqual(ir.messages, [{ role: "user", parts: [{ type: "text", text: "Say hello" }] }]);
  });
});

Deno.test("SDK non-streaming: function_call items and the round trip of their results", async () => {
  await withClient(async (client, server) => {
    const tools: OpenAI.Responses.Tool[] = [{
      type: "function",
      name: "get_weather",
      parameters: { type: "object", properties: { city: { type: "string" } } },
      strict: false,
    }, { type: "web_search" }];
    const res = await client.responses.create({ model: "tool", input: "weather?", tools });
    const calls = res.output.filter((o) => o.type === "function_call");
    assert.equal(calls.length, 2);
    assert.equal(calls[0].name, "get_weather");
    assert.equal(calls[0].call_id, "call_1");
    assert.deepEqual(JSON.parse(calls[0].arguments), { city: "Paris" });
    assert.equal(calls[1].arguments, "{}", "empty arguments become {}");
    assert.match(calls[0].id ?? "", /^fc_/);
    assert.equal(calls[0].status, "completed");
    assert.equal(res.output_text, "");

    // The next turn sends the calls and their outputs back as input items.
    await client.responses.create({
      model: "text",
      tools,
      input: [
        { role: "user", content: "weather?" },
        ...calls.map((c) => ({
          type: "function_call" as const,
          call_id: c.call_id,
          name: c.name,
          arguments: c.arguments,
        })),
        { type: "function_call_output", call_id: "call_1", output: "sunny" },
        { type: "function_call_output", call_id: "call_2", output: "noon" },
      ],
    });
    const ir = server.requests[1];
    assert.deepEqual(ir.tools.map((t) => t.name), ["get_weather"], "web_search is dropped");
    assert.deepEqual(ir.messages.map((m) => m.role), ["user", "assistant", "tool", "tool"]);
    assert.deepEqual(ir.messages[1].parts.map((p) => p.type), ["tool_call", "tool_call"]);
    assert.deepEqual(ir.messages[2].parts[0], {
      type: "tool_result",
      toolCallId: "call_1",
      name: "get_weather",
      content: [{ type: "text", text: "sunny" }],
    });
  });
});

Deno.test("SDK non-streaming: reasoning item, length stop as incomplete", async () => {
  await withClient(async (client) => {
    const res = await client.responses.create({
      model: "reasoning",
      input: "think",
      reasoning: { effort: "high", summary: "auto" },
    });
    assert.equal(res.output_text, "Answer");
    const rs = res.output[0];
    assert.ok(rs.type === "reasoning");
    assert.match(rs.id, /^rs_/);
    assert.deepEqual(rs.summary, [{ type: "summary_text", text: "Thinking hard" }]);
    assert.ok(rs.encrypted_content, "the signature travels in encrypted_content");
    assert.equal(res.usage?.output_tokens_details.reasoning_tokens, 7);
    assert.deepEqual(res.reasoning, { effort: "high", summary: "auto" });

    const cut = await client.responses.create({ model: "length", input: "story" });
    assert.equal(cut.status, "incomplete");
    assert.deepEqual(cut.incomplete_details, { reason: "max_output_tokens" });
    assert.equal(cut.output_text, "Once upon");
  });
});

Deno.test("SDK streaming: events arrive typed, in order, with increasing sequence numbers", async () => {
  await withClient(async (client) => {
    const stream = await client.responses.create({ model: "text", input: "hi", stream: true });
    const types: string[] = [];
    const seqs: number[] = [];
    let text = "";
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      seqs.push(event.sequence_number);
      if (event.type === "response.output_text.delta") text += event.delta;
      if (event.type === "response.completed") completed = event.response;
    }
    assert.deepEqual(types, [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    assert.deepEqual(seqs, types.map((_, i) => i));
    assert.equal(text, "Hello, world");
    assert.equal(completed?.status, "completed");
    assert.equal(completed?.usage?.total_tokens, 15);
  });
});

Deno.test("SDK stream helper: finalResponse() for text, tool calls, reasoning and length", async () => {
  await withClient(async (client) => {
    const text = await client.responses.stream({ model: "text", input: "hi" }).finalResponse();
    assert.equal(text.output_text, "Hello, world");
    assert.equal(text.usage?.input_tokens, 10);

    const argDeltas: string[] = [];
    const toolStream = client.responses.stream({ model: "tool", input: "weather?" });
    toolStream.on("response.function_call_arguments.delta", (e) => argDeltas.push(e.snapshot));
    const tool = await toolStream.finalResponse();
    const calls = tool.output.filter((o) => o.type === "function_call");
    assert.deepEqual(calls.map((c) => [c.call_id, c.name, c.arguments]), [
      ["call_1", "get_weather", '{"city":"Paris"}'],
      ["call_2", "get_time", "{}"],
    ]);
    assert.deepEqual(argDeltas, ['{"city":', '{"city":"Paris"}', "{}"]);

    const summaries: string[] = [];
    const rsStream = client.responses.stream({
      model: "reasoning",
      input: "think",
      reasoning: { summary: "auto" },
    });
    rsStream.on("response.reasoning_summary_text.delta", (e) => summaries.push(e.delta));
    const rs = await rsStream.finalResponse();
    assert.deepEqual(summaries, ["Thinking", " hard"]);
    assert.deepEqual(rs.output.map((o) => o.type), ["reasoning", "message"]);
    assert.equal(rs.output_text, "Answer");

    // Without a summary request, reasoning streams as raw reasoning_text content.
    const raw = await client.responses.stream({ model: "reasoning", input: "think" })
      .finalResponse();
    const item = raw.output[0];
    assert.ok(item.type === "reasoning");
    assert.deepEqual(item.content, [{ type: "reasoning_text", text: "Thinking hard" }]);

    const cut = await client.responses.stream({ model: "length", input: "story" }).finalResponse();
    assert.equal(cut.status, "incomplete");
    assert.deepEqual(cut.incomplete_details, { reason: "max_output_tokens" });
    assert.equal(cut.output[0].type === "message" && cut.output[0].status, "incomplete");
  });
});

Deno.test("SDK stream helper: interleaved calls and signature-only reasoning round-trip", async () => {
  await withClient(async (client, server) => {
    const final = await client.responses.stream({ model: "mixed", input: "go" }).finalResponse();
    assert.deepEqual(final.output.map((o) => o.type), [
      "reasoning",
      "function_call",
      "function_call",
    ]);
    const calls = final.output.filter((o) => o.type === "function_call");
    assert.deepEqual(calls.map((c) => c.arguments), ['{"n":1}', "{}"]);

    // Codex-style next turn: every output item goes back verbatim with the call outputs.
    await client.responses.create({
      model: "text",
      input: [
        { role: "user", content: "go" },
        ...final.output as OpenAI.Responses.ResponseInputItem[],
        { type: "function_call_output", call_id: "call_a", output: "1" },
        { type: "function_call_output", call_id: "call_b", output: "2" },
      ],
    });
    assert.deepEqual(server.requests[1].messages[1], {
      role: "assistant",
      parts: [
        { type: "reasoning", text: "", redacted: "opaque-thinking", origin: "anthropic" },
        {
          type: "tool_call",
          id: "call_a",
          name: "f",
          arguments: '{"n":1}',
          signature: "ts",
          origin: "gemini",
        },
        { type: "tool_call", id: "call_b", name: "g", arguments: "{}" },
      ],
    });
  });
});

Deno.test("SDK streaming: an in-stream error makes the SDK throw", async () => {
  await withClient(async (client) => {
    const stream = await client.responses.create({ model: "error", input: "x", stream: true });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of stream) seen.push(event.type);
      })(),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.APIError, `got ${String(err)}`);
        assert.match(err.message, /broke off/);
        assert.equal((err.error as { code?: string }).code, "server_error");
        return true;
      },
    );
    assert.ok(seen.includes("response.output_text.delta"), "deltas before the error arrived");

    await assert.rejects(
      client.responses.stream({ model: "error", input: "x" }).finalResponse(),
      (err: unknown) => err instanceof OpenAI.APIError && /broke off/.test(err.message),
    );
  });
});

Deno.test("SDK: invalid bodies and previous_response_id are clear 400s", async () => {
  await withClient(async (client) => {
    await assert.rejects(
      client.responses.create({ model: "text", input: "x", previous_response_id: "resp_123" }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.match(err.message, /responses: { store: true }/);
        return true;
      },
    );
    await assert.rejects(
      client.responses.create({
        model: "text",
        // @ts-expect-error: a broken function_call item on purpose
        input: [{ type: "function_call", call_id: "c1", arguments: "{}" }],
      }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.match(err.message, /input\[0\]\.name/);
        return true;
      },
    );
  });
});
