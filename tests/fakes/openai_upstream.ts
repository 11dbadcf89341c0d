/**
 * A fake OpenAI Chat Completions upstream on 127.0.0.1 (ephemeral port) speaking the real wire
 * format: `chat.completion` JSON, SSE chunks framed as OpenAI frames them (role delta first,
 * content deltas, finish chunk, optional usage chunk, `data: [DONE]`), OpenAI error bodies, and
 * faults. The model name picks the behaviour:
 * - `*-429`: 429 with `Retry-After: 7` and an OpenAI rate-limit error body
 * - `*-500`: 500 with an OpenAI server error body
 * - `*-html-502`: 502 with an HTML body (a broken proxy in front of the provider)
 * - `*-stall`: never answers until the caller aborts
 * - `*-reset`: streams three chunks, then breaks the connection mid-stream
 * - `*-slow`: streams a chunk every 20 ms for up to 10 s (for client-abort tests)
 * - `*-tools`: answers with a tool call (streamed as OpenAI streams tool calls)
 * - `*-400`: 400 invalid_request_error (the request's fault)
 * - `*-context`: 400 `context_length_exceeded`; `*-413`: 413 request too large
 * - a top-level field Chat Completions does not have: OpenAI's 400 "Unrecognized request
 *   argument supplied"
 * - reasoning models (`gpt-5*` but not `gpt-5*-chat*`, `o1`/`o3`/`o4*`) refuse `max_tokens` and a
 *   `temperature`/`top_p` other than 1 with OpenAI's own 400s, as the real API does; GPT-4
 *   family models refuse `reasoning_effort`
 * - keys containing `-limited`: 429 with `Retry-After: 1`; `-quota`: 400 insufficient_quota;
 *   `-empty`: answers, but reports 0 requests left for 10 s
 * - anything else: answers "Hello from <model>: <last user text>"
 */

import { openAIEmbeddings } from "./embeddings_wire.ts";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Headers;
  body: Record<string, unknown>;
  rawBody: string;
}

export interface FakeOpenAI {
  url: string;
  requests: RecordedRequest[];
  /** Streams whose body the gateway cancelled (the client went away). */
  cancelledStreams: number;
  /** Requests whose signal aborted before the fake answered (stalls). */
  abortedRequests: number;
  /** What `GET /v1/models` lists, and how long it takes to answer (slow-upstream tests). */
  listedModels: string[];
  listDelayMs: number;
  /**
   * Top-level fields this upstream knows beyond OpenAI's own Chat Completions parameters (a
   * newer API, or an OpenAI-compatible vendor's extension); any other is refused.
   */
  extraParams: Set<string>;
  close(): Promise<void>;
}

const encoder = new TextEncoder();

/** OpenAI's rate-limit headers, as sent on successful answers. */
const RATE_HEADERS = {
  "x-ratelimit-limit-requests": "500",
  "x-ratelimit-remaining-requests": "499",
  "x-ratelimit-reset-requests": "120ms",
  "x-ratelimit-remaining-tokens": "29900",
};

export function startFakeOpenAI(): Promise<FakeOpenAI> {
  const state: FakeOpenAI = {
    url: "",
    requests: [],
    cancelledStreams: 0,
    abortedRequests: 0,
    listedModels: ["fake-gpt"],
    listDelayMs: 0,
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
        return json(400, { error: { message: "bad json", type: "invalid_request_error" } });
      }
      state.requests.push({
        method: req.method,
        path: url.pathname,
        headers: req.headers,
        body,
        rawBody,
      });
      if (url.pathname === "/v1/models" && req.method === "GET") {
        if (state.listDelayMs > 0) await sleep(state.listDelayMs, req.signal);
        if (!(req.headers.get("authorization") ?? "").startsWith("Bearer sk-up")) {
          return json(401, {
            error: { message: "Incorrect API key provided.", type: "invalid_request_error" },
          });
        }
        return json(200, {
          object: "list",
          data: state.listedModels.map((id) => ({
            id,
            object: "model",
            created: 1_700_000_000,
            owned_by: "openai",
          })),
        });
      }
      const embeddings = url.pathname === "/v1/embeddings";
      if ((url.pathname !== "/v1/chat/completions" && !embeddings) || req.method !== "POST") {
        return json(404, { error: { message: "not found", type: "invalid_request_error" } });
      }
      if (!(req.headers.get("authorization") ?? "").startsWith("Bearer sk-up")) {
        return json(401, {
          error: {
            message: "Incorrect API key provided.",
            type: "invalid_request_error",
            code: "invalid_api_key",
          },
        });
      }
      const model = String(body.model ?? "");
      const stream = body.stream === true;
      // A key whose window is used up answers once more, saying "0 left for 10 s".
      const rate = (req.headers.get("authorization") ?? "").includes("-empty")
        ? {
          ...RATE_HEADERS,
          "x-ratelimit-remaining-requests": "0",
          "x-ratelimit-reset-requests": "10s",
        }
        : RATE_HEADERS;
      const includeUsage =
        (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;

      // Key-specific faults, for rotation tests: a rate-limited key and an exhausted quota.
      const auth = req.headers.get("authorization") ?? "";
      if (auth.includes("-limited")) {
        return json(429, {
          error: {
            message: "Rate limit reached for requests",
            type: "requests",
            code: "rate_limit_exceeded",
          },
        }, { "retry-after": "1" });
      }
      if (auth.includes("-quota")) {
        return json(400, {
          error: {
            message: "You exceeded your current quota, please check your plan and billing details.",
            type: "insufficient_quota",
            code: "insufficient_quota",
          },
        });
      }
      if (embeddings) return openAIEmbeddings(body);
      // What OpenAI itself refuses in a message list: the gateway forwards same-format bodies
      // as they are, so this answer is what such a client gets.
      const invalid = unrecognized(body, state.extraParams) ?? invalidRole(body.messages) ??
        outOfRange(body);
      if (invalid) return json(400, { error: invalid });
      const refused = reasoningRefusal(model, body);
      if (refused) return json(400, { error: refused });
      if (model.endsWith("-context")) {
        return json(400, {
          error: {
            message:
              "This model's maximum context length is 128000 tokens. However, your messages resulted in 210417 tokens. Please reduce the length of the messages.",
            type: "invalid_request_error",
            param: "messages",
            code: "context_length_exceeded",
          },
        });
      }
      if (model.endsWith("-413")) {
        return json(413, {
          error: {
            message: "Request too large: the request body exceeds the maximum size.",
            type: "invalid_request_error",
            param: null,
            code: "request_too_large",
          },
        });
      }
      if (model.endsWith("-400")) {
        return json(400, {
          error: {
            message: "Invalid 'messages': bad request",
            type: "invalid_request_error",
            code: null,
          },
        });
      }
      if (model.endsWith("-429")) {
        return json(429, {
          error: {
            message: "Rate limit reached for requests",
            type: "requests",
            code: "rate_limit_exceeded",
          },
        }, { "retry-after": "7", "x-ratelimit-remaining-requests": "0" });
      }
      if (model.endsWith("-500")) {
        return json(500, {
          error: { message: "The server had an error", type: "server_error", code: null },
        });
      }
      if (model.endsWith("-html-502")) {
        return new Response("<html><body>Bad Gateway</body></html>", {
          status: 502,
          headers: { "content-type": "text/html" },
        });
      }
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

      const lastUser = lastUserText(body);
      const id = `chatcmpl-${crypto.randomUUID().slice(0, 8)}`;
      const created = Math.floor(Date.now() / 1000);
      // A tool round trip: once the history ends with a tool result, answer in text about it.
      const last = lastMessage(body);
      const afterTool = last?.role === "tool";
      const tools = (model.endsWith("-tools") || model.endsWith("-weather")) && !afterTool;
      const text = afterTool
        ? `Tool said: ${
          typeof last?.content === "string" ? last.content : JSON.stringify(last?.content)
        }`
        : `Hello from ${model}: ${lastUser}`;
      const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };

      if (!stream) {
        const message = tools
          ? {
            role: "assistant",
            content: null,
            tool_calls: [{
              id: "call_abc123",
              type: "function",
              function: { name: "get_weather", arguments: '{"city":"Paris"}' },
            }],
            refusal: null,
          }
          : { role: "assistant", content: text, refusal: null };
        return json(200, {
          id,
          object: "chat.completion",
          created,
          model,
          system_fingerprint: "fp_fake",
          choices: [{
            index: 0,
            message,
            logprobs: null,
            finish_reason: tools ? "tool_calls" : "stop",
          }],
          usage,
        }, rate);
      }

      const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
        `data: ${
          JSON.stringify({
            id,
            object: "chat.completion.chunk",
            created,
            model,
            system_fingerprint: "fp_fake",
            choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
          })
        }\n\n`;

      const events: string[] = [chunk({ role: "assistant", content: "", refusal: null })];
      if (tools) {
        events.push(chunk({
          tool_calls: [{
            index: 0,
            id: "call_abc123",
            type: "function",
            function: { name: "get_weather", arguments: "" },
          }],
        }));
        for (const frag of ['{"ci', 'ty":', '"Paris"}']) {
          events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: frag } }] }));
        }
        events.push(chunk({}, "tool_calls"));
      } else {
        for (const word of text.match(/\S+\s*/g) ?? []) events.push(chunk({ content: word }));
        events.push(chunk({}, "stop"));
      }
      if (includeUsage) {
        events.push(
          `data: ${
            JSON.stringify({
              id,
              object: "chat.completion.chunk",
              created,
              model,
              choices: [],
              usage,
            })
          }\n\n`,
        );
      }
      events.push("data: [DONE]\n\n");

      const slow = model.endsWith("-slow");
      const reset = model.endsWith("-reset");
      let i = 0;
      const started = Date.now();
      const body$ = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (slow) {
            await new Promise((r) => setTimeout(r, 20));
            if (Date.now() - started > 10_000) return controller.close();
            controller.enqueue(encoder.encode(chunk({ content: "tick " })));
            return;
          }
          if (reset && i === 3) {
            // A partial event, then the connection breaks.
            controller.enqueue(encoder.encode('data: {"id":"trunc'));
            await new Promise((r) => setTimeout(r, 10));
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
      return new Response(body$, {
        headers: {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
          ...rate,
        },
      });
    });
  });
}

/** Model ids OpenAI serves as reasoning models (gpt-5-chat is the non-reasoning one). */
export function isOpenAIReasoningModel(model: string): boolean {
  return /^(gpt-5(?!.*-chat)|o[134](-|$))/.test(model);
}

const ROLES = ["system", "assistant", "user", "function", "tool", "developer"];

/** The Chat Completions request body's parameters (OpenAI's API reference, late 2026). */
const CHAT_PARAMS = new Set([
  "model",
  "messages",
  "stream",
  "stream_options",
  "temperature",
  "top_p",
  "n",
  "stop",
  "max_tokens",
  "max_completion_tokens",
  "presence_penalty",
  "frequency_penalty",
  "logit_bias",
  "logprobs",
  "top_logprobs",
  "user",
  "seed",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "functions",
  "function_call",
  "response_format",
  "reasoning_effort",
  "verbosity",
  "service_tier",
  "store",
  "metadata",
  "modalities",
  "audio",
  "prediction",
  "web_search_options",
  "prompt_cache_key",
  "safety_identifier",
]);

/**
 * OpenAI's 400 for a top-level field it does not know (its wording): a converter that invents
 * a field, or a same-format body with one, fails here as it would against the real API.
 */
function unrecognized(
  body: Record<string, unknown>,
  extra: Set<string>,
): Record<string, unknown> | undefined {
  const unknown = Object.keys(body).find((k) => !CHAT_PARAMS.has(k) && !extra.has(k));
  if (unknown === undefined) return undefined;
  return {
    message: `Unrecognized request argument supplied: ${unknown}`,
    type: "invalid_request_error",
    param: null,
    code: null,
  };
}

/** OpenAI's 400 for a message without a valid role (its own wording), or undefined. */
function invalidRole(messages: unknown): Record<string, unknown> | undefined {
  if (!Array.isArray(messages)) return undefined;
  for (let i = 0; i < messages.length; i++) {
    const role = (messages[i] as { role?: unknown } | null)?.role;
    if (typeof role === "string" && ROLES.includes(role)) continue;
    return {
      message: `Invalid value: '${String(role)}'. Supported values are: 'system', 'assistant', ` +
        "'user', 'function', 'tool', and 'developer'.",
      type: "invalid_request_error",
      param: `messages[${i}].role`,
      code: "invalid_value",
    };
  }
  return undefined;
}

/** OpenAI's 400 for `temperature` outside 0–2 or `top_p` outside 0–1 (its wording), or undefined. */
function outOfRange(body: Record<string, unknown>): Record<string, unknown> | undefined {
  for (const [param, max] of [["temperature", 2], ["top_p", 1]] as const) {
    const value = body[param];
    if (typeof value !== "number" || (value >= 0 && value <= max)) continue;
    const above = value > max;
    return {
      message: `Invalid '${param}': decimal ${above ? "above maximum" : "below minimum"} value. ` +
        `Expected a value ${above ? `<= ${max}` : ">= 0"}, but got ${value} instead.`,
      type: "invalid_request_error",
      param,
      code: above ? "decimal_above_max_value" : "decimal_below_min_value",
    };
  }
  return undefined;
}

/** OpenAI's 400 for a parameter a reasoning model refuses, or undefined. */
function reasoningRefusal(
  model: string,
  body: Record<string, unknown>,
): Record<string, unknown> | undefined {
  if (/^(gpt-4|gpt-3\.5|chatgpt-)/.test(model) && body.reasoning_effort !== undefined) {
    return {
      message: "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
      type: "invalid_request_error",
      param: "reasoning_effort",
      code: "unsupported_parameter",
    };
  }
  if (!isOpenAIReasoningModel(model)) return undefined;
  if (body.max_tokens !== undefined) {
    return {
      message:
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
      type: "invalid_request_error",
      param: "max_tokens",
      code: "unsupported_parameter",
    };
  }
  for (const param of ["temperature", "top_p"]) {
    const value = body[param];
    if (value !== undefined && value !== null && value !== 1) {
      return {
        message:
          `Unsupported value: '${param}' does not support ${value} with this model. Only the default (1) value is supported.`,
        type: "invalid_request_error",
        param,
        code: "unsupported_value",
      };
    }
  }
  return undefined;
}

function lastMessage(
  body: Record<string, unknown>,
): { role?: string; content?: unknown } | undefined {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  return messages[messages.length - 1] as { role?: string; content?: unknown } | undefined;
}

function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: string; content?: unknown };
    if (m.role === "user") {
      return typeof m.content === "string" ? m.content : JSON.stringify(m.content);
    }
  }
  return "";
}

/** Waits, or stops waiting when the caller goes away. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      done();
    });
  });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}
