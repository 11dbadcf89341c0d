/**
 * A fake Anthropic Messages API on 127.0.0.1 (ephemeral port) speaking the real wire format:
 * Message JSON, SSE framed as Anthropic frames it (`event:` lines, `message_start` with usage,
 * `ping`, content blocks, `message_delta`, `message_stop`), Anthropic error bodies, and faults.
 * Like the real API it checks `x-api-key` (must start with `sk-ant-up`) and `anthropic-version`,
 * and rejects bodies Anthropic rejects (missing max_tokens, empty text blocks, roles other than
 * user/assistant, unanswered tool_use, tool_result blocks after other content, bad thinking).
 * The model name picks the behaviour:
 * - `*-tools`: text, then a `get_weather` tool_use (streamed as input_json_delta fragments)
 * - `*-thinking`: a thinking block (thinking_delta + signature_delta), then text
 * - `*-thinktools`: a thinking block with a fresh signature, then two parallel `get_weather`
 *   tool_use blocks (Paris, London); answered (tool_results in the last turn), it says, in call
 *   order, which result (by tool_use_id) went to which call and whether thinking was on: "Paris: <r>; London: <r> (thinking
 *   on)". Its requests' thinking blocks must carry a signature the fake issued, with the very
 *   text it was issued for, else 400 "Invalid `signature` in `thinking` block", as Anthropic.
 * - `*-429`: 429 with `retry-after: 7` and a rate_limit_error body
 * - `*-500`: 500 api_error; `*-529`: 529 overloaded_error
 * - `*-stream-error`: starts streaming, then `event: error` (overloaded_error)
 * - `*-reset`: streams a few events, then breaks the connection mid-event
 * - `*-stall`: never answers until the caller aborts
 * - `*-context`: 400 "prompt is too long"; `*-413`: 413 request_too_large
 * - anything else: "Hello from <model>: <last user text>"
 * Thinking is checked per model as Anthropic checks it: Opus 4.7+, Fable and Mythos ids refuse
 * `enabled`/`disabled` (adaptive only), older models (Sonnet/Opus 4.5 and before) refuse
 * `adaptive`, and `output_config.effort` must be low, medium, high, xhigh or max.
 */

export interface RecordedAnthropicRequest {
  method: string;
  path: string;
  headers: Headers;
  body: Record<string, unknown>;
  rawBody: string;
}

export interface FakeAnthropic {
  url: string;
  requests: RecordedAnthropicRequest[];
  /** Streams whose body the caller cancelled. */
  cancelledStreams: number;
  /** Requests whose signal aborted before the fake answered (stalls). */
  abortedRequests: number;
  /** Thinking signatures handed out by `-thinktools`, with the text each one signs. */
  issuedSignatures: Map<string, string>;
  /**
   * Top-level fields this upstream knows beyond the Messages API's own (a newer API); any
   * other is refused as Anthropic refuses it.
   */
  extraParams: Set<string>;
  close(): Promise<void>;
}

export const FAKE_SIGNATURE =
  "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds6aOTw4vI6IMf9tuzIo9XmC9wqYgYVQ9dIDqzSnOC5";

const encoder = new TextEncoder();

type Block = Record<string, unknown>;

export function startFakeAnthropic(): Promise<FakeAnthropic> {
  const state: FakeAnthropic = {
    url: "",
    requests: [],
    cancelledStreams: 0,
    abortedRequests: 0,
    issuedSignatures: new Map(),
    extraParams: new Set(),
    close: () => Promise.resolve(),
  };
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        state.url = `http://127.0.0.1:${port}`;
        state.close = async () => {
          await server.shutdown();
        };
        resolve(state);
      },
    }, async (req) => {
      const url = new URL(req.url);
      const rawBody = req.method === "POST" ? await req.text() : "";
      let body: Record<string, unknown> = {};
      try {
        body = rawBody ? JSON.parse(rawBody) : {};
      } catch {
        return error(
          400,
          "invalid_request_error",
          "There was an issue with the format of your request: invalid JSON",
        );
      }
      state.requests.push({
        method: req.method,
        path: url.pathname,
        headers: req.headers,
        body,
        rawBody,
      });

      if (!(req.headers.get("x-api-key") ?? "").startsWith("sk-ant-up")) {
        return error(401, "authentication_error", "invalid x-api-key");
      }
      if (!req.headers.get("anthropic-version")) {
        return error(400, "invalid_request_error", "anthropic-version: header is required");
      }
      if (url.pathname === "/v1/models" && req.method === "GET") return modelList(url);
      if (req.method !== "POST") return error(405, "invalid_request_error", "Method not allowed");
      if (url.pathname === "/v1/messages/count_tokens") {
        return json(200, { input_tokens: Math.ceil(rawBody.length / 4) });
      }
      if (url.pathname !== "/v1/messages") {
        return error(404, "not_found_error", `Not found: ${url.pathname}`);
      }
      return await answerAnthropicMessages(body, req, state);
    });
  });
}

/**
 * The answer the fake gives to a Messages body it accepted (auth and path already checked):
 * validation, the model-named behaviours and the JSON or SSE answer. Exported so the cloud
 * fakes (Bedrock, Claude on Vertex) answer exactly as Anthropic does once they have unwrapped
 * their own framing.
 */
export async function answerAnthropicMessages(
  body: Record<string, unknown>,
  req: Request,
  state: {
    cancelledStreams: number;
    abortedRequests: number;
    issuedSignatures?: Map<string, string>;
    extraParams?: Set<string>;
  },
): Promise<Response> {
  const issued = state.issuedSignatures ?? new Map<string, string>();
  const invalid = unknownField(body, state.extraParams) ?? validate(body);
  if (invalid) return error(400, "invalid_request_error", invalid);

  const model = String(body.model);
  if (model.endsWith("-429")) {
    return error(
      429,
      "rate_limit_error",
      "Number of request tokens has exceeded your per-minute rate limit",
      { "retry-after": "7", "anthropic-ratelimit-requests-remaining": "0" },
    );
  }
  if (model.endsWith("-context")) {
    return error(
      400,
      "invalid_request_error",
      "prompt is too long: 210417 tokens > 200000 maximum",
    );
  }
  if (model.endsWith("-413")) {
    return error(
      413,
      "request_too_large",
      "Request exceeds the maximum allowed number of bytes. The maximum request size is 32 MB.",
    );
  }
  if (model.endsWith("-500")) return error(500, "api_error", "Internal server error");
  if (model.endsWith("-529")) return error(529, "overloaded_error", "Overloaded");
  if (model.endsWith("-stall")) {
    await new Promise<void>((done) => {
      const t = setTimeout(done, 30_000);
      req.signal.addEventListener("abort", () => {
        clearTimeout(t);
        state.abortedRequests++;
        done();
      });
    });
    return json(200, {});
  }

  const id = `msg_01${crypto.randomUUID().replaceAll("-", "").slice(0, 22)}`;
  if (model.endsWith("-thinktools")) {
    const bad = badSignature(body, issued);
    if (bad) return error(400, "invalid_request_error", bad);
  }
  const content = thinkToolsAnswer(model, body, issued) ??
    weatherAnswer(model, body) ?? answer(model, lastUserText(body));
  const stopReason = content.some((b) => b.type === "tool_use") ? "tool_use" : "end_turn";
  const usage = {
    input_tokens: 21,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 4,
    output_tokens: 12,
    service_tier: "standard",
  };
  const headers = { "request-id": `req_${id.slice(6)}` };
  if (body.stream !== true) {
    return json(200, {
      id,
      type: "message",
      role: "assistant",
      model,
      content,
      stop_reason: stopReason,
      stop_sequence: null,
      usage,
    }, headers);
  }

  const events = streamEvents(id, model, content, stopReason, usage);
  const reset = model.endsWith("-reset");
  const streamError = model.endsWith("-stream-error");
  if (streamError) {
    events.splice(
      4,
      events.length - 4,
      frame("error", {
        type: "error",
        error: { type: "overloaded_error", message: "Overloaded" },
      }),
    );
  }
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (reset && i === 4) {
        // Half an event, then the connection breaks.
        controller.enqueue(encoder.encode('event: content_block_delta\ndata: {"type":"con'));
        await new Promise((r) => setTimeout(r, 5));
        controller.error(new Error("connection reset"));
        return;
      }
      if (i >= events.length) return controller.close();
      controller.enqueue(encoder.encode(events[i++]));
    },
    cancel() {
      state.cancelledStreams++;
    },
  });
  return new Response(stream, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      ...headers,
    },
  });
}

/**
 * `-weather` models do one tool round trip: a `get_weather {city: "Paris"}` call, then, once
 * the last user turn carries its tool_result, a text answer quoting that result.
 */
function weatherAnswer(model: string, body: Record<string, unknown>): Block[] | undefined {
  if (!model.endsWith("-weather")) return undefined;
  const messages = Array.isArray(body.messages)
    ? body.messages as Array<{ content?: unknown }>
    : [];
  const last = messages.at(-1)?.content;
  const result = Array.isArray(last)
    ? (last as Block[]).find((b) => b.type === "tool_result")
    : undefined;
  if (result) {
    const c = result.content;
    const text = typeof c === "string"
      ? c
      : Array.isArray(c)
      ? (c as Block[]).map((b) => typeof b.text === "string" ? b.text : "").join("")
      : "";
    return [{ type: "text", text: `Tool said: ${text}` }];
  }
  return [{
    type: "tool_use",
    id: "toolu_weather_01",
    name: "get_weather",
    input: { city: "Paris" },
  }];
}

/** Thinking blocks whose signature the fake did not issue for exactly that text. */
function badSignature(body: Record<string, unknown>, issued: Map<string, string>): string | null {
  const messages = Array.isArray(body.messages)
    ? body.messages as Array<{ content?: unknown }>
    : [];
  for (const [i, m] of messages.entries()) {
    const blocks = Array.isArray(m.content) ? m.content as Block[] : [];
    for (const [j, b] of blocks.entries()) {
      if (b.type === "thinking" && issued.get(String(b.signature)) !== b.thinking) {
        return `messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`;
      }
    }
  }
  return null;
}

/** Text of a tool_result's content. */
function resultText(c: unknown): string {
  if (typeof c === "string") return c;
  return Array.isArray(c)
    ? (c as Block[]).map((b) => typeof b.text === "string" ? b.text : "").join("")
    : "";
}

/** `-thinktools`: signed thinking and two parallel calls, then the paired results. */
function thinkToolsAnswer(
  model: string,
  body: Record<string, unknown>,
  issued: Map<string, string>,
): Block[] | undefined {
  if (!model.endsWith("-thinktools")) return undefined;
  const messages = Array.isArray(body.messages)
    ? body.messages as Array<{ content?: unknown }>
    : [];
  const blocks = (i: number): Block[] => {
    const c = messages.at(i)?.content;
    return Array.isArray(c) ? c as Block[] : [];
  };
  const results = blocks(-1).filter((b) => b.type === "tool_result");
  if (results.length > 0) {
    const calls = blocks(-2).filter((b) => b.type === "tool_use");
    const thinking = body.thinking as { type?: string } | undefined;
    const on = thinking?.type === "enabled" || thinking?.type === "adaptive";
    // Anthropic pairs results with calls by id, whatever their order.
    const paired = calls.map((c) => {
      const result = results.find((r) => r.tool_use_id === c.id);
      return `${(c.input as Block | undefined)?.location ?? "?"}: ${resultText(result?.content)}`;
    });
    return [{ type: "text", text: `${paired.join("; ")} (thinking ${on ? "on" : "off"})` }];
  }
  const text = "Two cities: I will call get_weather for each.";
  const signature = crypto.getRandomValues(new Uint8Array(72)).toBase64();
  issued.set(signature, text);
  const id = () => `toolu_01${crypto.randomUUID().replaceAll("-", "").slice(0, 22)}`;
  return [
    { type: "thinking", thinking: text, signature },
    { type: "tool_use", id: id(), name: "get_weather", input: { location: "Paris" } },
    { type: "tool_use", id: id(), name: "get_weather", input: { location: "London" } },
  ];
}

function answer(model: string, lastUser: string): Block[] {
  if (model.endsWith("-tools")) {
    return [
      { type: "text", text: "I'll check the current weather in Paris for you." },
      {
        type: "tool_use",
        id: "toolu_01A09q90qw90lq917835lq9",
        name: "get_weather",
        input: { location: "Paris, France", unit: "celsius" },
      },
    ];
  }
  const text = { type: "text", text: `Hello from ${model}: ${lastUser}` };
  if (model.endsWith("-thinking")) {
    return [{
      type: "thinking",
      thinking: "The user greets me. I should answer briefly and politely.",
      signature: FAKE_SIGNATURE,
    }, text];
  }
  return [text];
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The SSE transcript Anthropic would send for `content`. */
function streamEvents(
  id: string,
  model: string,
  content: Block[],
  stopReason: string,
  usage: Record<string, unknown>,
): string[] {
  const out = [frame("message_start", {
    type: "message_start",
    message: {
      id,
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: 1 },
    },
  })];
  content.forEach((block, index) => {
    const delta = (d: Record<string, unknown>): string =>
      frame("content_block_delta", { type: "content_block_delta", index, delta: d });
    if (block.type === "text") {
      out.push(
        frame("content_block_start", {
          type: "content_block_start",
          index,
          content_block: { type: "text", text: "" },
        }),
      );
      if (index === 0) out.push(frame("ping", { type: "ping" }));
      for (const word of String(block.text).match(/\S+\s*/g) ?? []) {
        out.push(delta({ type: "text_delta", text: word }));
      }
    } else if (block.type === "thinking") {
      out.push(frame("content_block_start", {
        type: "content_block_start",
        index,
        content_block: { type: "thinking", thinking: "", signature: "" },
      }));
      if (index === 0) out.push(frame("ping", { type: "ping" }));
      for (const part of String(block.thinking).match(/.{1,20}/g) ?? []) {
        out.push(delta({ type: "thinking_delta", thinking: part }));
      }
      out.push(delta({ type: "signature_delta", signature: block.signature }));
    } else if (block.type === "tool_use") {
      out.push(frame("content_block_start", {
        type: "content_block_start",
        index,
        content_block: { type: "tool_use", id: block.id, name: block.name, input: {} },
      }));
      const args = JSON.stringify(block.input);
      out.push(delta({ type: "input_json_delta", partial_json: "" }));
      for (let i = 0; i < args.length; i += 9) {
        out.push(delta({ type: "input_json_delta", partial_json: args.slice(i, i + 9) }));
      }
    }
    out.push(frame("content_block_stop", { type: "content_block_stop", index }));
  });
  out.push(frame("message_delta", {
    type: "message_delta",
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: usage.output_tokens },
  }));
  out.push(frame("message_stop", { type: "message_stop" }));
  return out;
}

/** The Messages API's top-level request fields (Anthropic's API reference, late 2026). */
const MESSAGES_PARAMS = new Set([
  "model",
  "messages",
  "max_tokens",
  "system",
  "metadata",
  "stop_sequences",
  "stream",
  "temperature",
  "top_p",
  "top_k",
  "tools",
  "tool_choice",
  "thinking",
  "output_config",
  "service_tier",
  "container",
  "mcp_servers",
  "context_management",
]);

/**
 * Anthropic's 400 for a top-level field it does not know (its wording): a converter that
 * invents a field, or a same-format body with one, fails here as against the real API.
 */
function unknownField(body: Record<string, unknown>, extra?: Set<string>): string | null {
  const unknown = Object.keys(body).find((k) => !MESSAGES_PARAMS.has(k) && !extra?.has(k));
  return unknown === undefined ? null : `${unknown}: Extra inputs are not permitted`;
}

/** The checks Anthropic applies that a converter most often gets wrong; null when valid. */
function validate(body: Record<string, unknown>): string | null {
  if (typeof body.model !== "string" || body.model === "") return "model: Field required";
  if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1) {
    return "max_tokens: Field required";
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return "messages: at least one message is required";
  }
  // Anthropic's range, narrower than OpenAI's (0–2): the converters clamp; a same-format body
  // gets this answer relayed.
  const t = body.temperature;
  if (t !== undefined && (typeof t !== "number" || t < 0 || t > 1)) {
    return "temperature: Input should be less than or equal to 1";
  }
  const messages = body.messages as Array<{ role?: unknown; content?: unknown }>;
  if (messages[0].role !== "user") return 'messages: first message must use the "user" role';
  let pending: string[] = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (m.role !== "user" && m.role !== "assistant") {
      return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    }
    const blocks: Block[] = typeof m.content === "string"
      ? [{ type: "text", text: m.content }]
      : Array.isArray(m.content)
      ? m.content as Block[]
      : [];
    for (const b of blocks) {
      if (b.type === "text" && b.text === "") {
        return `messages.${i}: text content blocks must be non-empty`;
      }
    }
    if (m.role === "user") {
      const results = blocks.filter((b) => b.type === "tool_result").map((b) =>
        String(b.tool_use_id)
      );
      const firstOther = blocks.findIndex((b) => b.type !== "tool_result");
      if (results.length > 0 && firstOther !== -1 && firstOther < results.length) {
        return `messages.${i}: tool_result blocks must come first in the user message`;
      }
      const missing = pending.filter((id) => !results.includes(id));
      if (missing.length > 0) {
        return `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${
          missing.join(", ")
        }`;
      }
      const unexpected = results.filter((id) => !pending.includes(id));
      if (unexpected.length > 0) {
        return `messages.${i}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${
          unexpected[0]
        }`;
      }
      pending = [];
    } else {
      if (pending.length > 0) {
        return `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${
          pending.join(", ")
        }`;
      }
      pending = blocks.filter((b) => b.type === "tool_use").map((b) => String(b.id));
      for (const b of blocks) {
        if (b.type === "thinking" && typeof b.signature !== "string") {
          return `messages.${i}.content: thinking.signature: Field required`;
        }
      }
    }
  }
  const thinking = body.thinking as { type?: string; budget_tokens?: number } | undefined;
  const refused = thinkingRefusal(String(body.model), thinking?.type, body.output_config);
  if (refused) return refused;
  if (thinking?.type === "adaptive" && body.temperature !== undefined && body.temperature !== 1) {
    return "`temperature` may only be set to 1 when thinking is enabled";
  }
  if (thinking?.type === "enabled") {
    const budget = thinking.budget_tokens ?? 0;
    if (budget < 1024) {
      return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024";
    }
    if (budget >= (body.max_tokens as number)) {
      return "`max_tokens` must be greater than `thinking.budget_tokens`";
    }
    if (body.temperature !== undefined && body.temperature !== 1) {
      return "`temperature` may only be set to 1 when thinking is enabled";
    }
  }
  return null;
}

/** Claude models that take only adaptive thinking (Opus 4.7 and later, Fable, Mythos). */
export const ADAPTIVE_ONLY = /claude-(opus-4-[7-9]|opus-[5-9]|fable|mythos)/;
/** Claude models from before adaptive thinking (Sonnet/Opus/Haiku 4.5 and older). */
const BUDGET_ONLY = /claude-(3-|(sonnet|opus|haiku)-4-5|opus-4-1|(sonnet|opus)-4-\d{8})/;

/** Anthropic's 400 message for a thinking form the model does not take, or null. */
function thinkingRefusal(
  model: string,
  type: string | undefined,
  outputConfig: unknown,
): string | null {
  if (ADAPTIVE_ONLY.test(model) && (type === "enabled" || type === "disabled")) {
    return `"thinking.type.${type}" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.`;
  }
  if (BUDGET_ONLY.test(model) && type === "adaptive") {
    return '"thinking.type.adaptive" is not supported for this model. Use "thinking.type.enabled" with "budget_tokens".';
  }
  const effort = (outputConfig as { effort?: unknown } | undefined)?.effort;
  // Claude Code 2.1.197 sends "xhigh" to Opus 4.7, and the API takes it.
  if (effort !== undefined && !["low", "medium", "high", "xhigh", "max"].includes(String(effort))) {
    return "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'";
  }
  return null;
}

function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: string; content?: unknown };
    if (m.role !== "user") continue;
    if (typeof m.content === "string") return m.content;
    const text = (Array.isArray(m.content) ? m.content as Block[] : [])
      .filter((b) => b.type === "text").map((b) => String(b.text)).join(" ");
    if (text !== "") return text;
  }
  return "";
}

/** The models `GET /v1/models` lists, newest first as Anthropic orders them. */
export const LISTED_CLAUDE_MODELS = [
  {
    id: "claude-opus-4-5-20251101",
    display_name: "Claude Opus 4.5",
    created_at: "2025-11-01T00:00:00Z",
  },
  {
    id: "claude-sonnet-4-5-20250929",
    display_name: "Claude Sonnet 4.5",
    created_at: "2025-09-29T00:00:00Z",
  },
  {
    id: "claude-haiku-4-5-20251001",
    display_name: "Claude Haiku 4.5",
    created_at: "2025-10-01T00:00:00Z",
  },
];

/** `GET /v1/models`, paginated as Anthropic paginates (`limit` 1–1000, `after_id`). */
function modelList(url: URL): Response {
  const limit = Number(url.searchParams.get("limit") ?? "20");
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    return error(400, "invalid_request_error", "limit: Input should be between 1 and 1000");
  }
  const after = url.searchParams.get("after_id");
  const start = after ? LISTED_CLAUDE_MODELS.findIndex((m) => m.id === after) + 1 : 0;
  const page = LISTED_CLAUDE_MODELS.slice(start, start + limit).map((m) => ({
    type: "model",
    ...m,
  }));
  return json(200, {
    data: page,
    has_more: start + limit < LISTED_CLAUDE_MODELS.length,
    first_id: page[0]?.id ?? null,
    last_id: page.at(-1)?.id ?? null,
  });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function error(
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return json(status, { type: "error", error: { type, message } }, {
    "request-id": "req_fake_error",
    ...headers,
  });
}
