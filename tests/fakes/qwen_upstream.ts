/**
 * A fake Qwen Code backend on 127.0.0.1 (ephemeral port): the OAuth token endpoint of
 * chat.qwen.ai and the OpenAI-compatible API of portal.qwen.ai, in one server.
 *
 * Token endpoint `POST /api/v1/oauth2/token` (form-encoded `grant_type=refresh_token`,
 * `refresh_token`, `client_id`): rotates refresh tokens as Qwen does — a used refresh token
 * stops working and the answer carries a new one. Unknown or used tokens get
 * 400 `invalid_grant`; a wrong client id gets 401 `invalid_client`.
 *
 * API `POST /v1/chat/completions`: the bearer must be a currently valid access token (else 401).
 * The model name picks the behaviour:
 * - `*-tools`: a `get_weather {"city":"Paris"}` tool call; once the last message is a tool
 *   result, the text "Tool said: <result>"
 * - `*-429`: 429 with `Retry-After: 7` and an OpenAI-style quota error
 * - `*-500`: 500 with an OpenAI-style server error
 * - anything else: "Hello from <model>: <last user text>", streamed one word per chunk
 */

export const FAKE_QWEN_CLIENT_ID = "f0304373b74a44d2b584a3fb70ca9e56";

export interface RecordedQwenRequest {
  path: string;
  headers: Headers;
  body: Record<string, unknown>;
  rawBody: string;
}

export interface QwenTokenPair {
  access_token: string;
  refresh_token: string;
}

export interface FakeQwen {
  /** Origin, e.g. `http://127.0.0.1:1234`. */
  url: string;
  /** `{url}/api/v1/oauth2/token`. */
  tokenUrl: string;
  /** `{url}/v1`, the OpenAI-compatible base. */
  apiBase: string;
  /** Chat requests, in order. */
  requests: RecordedQwenRequest[];
  /** Token-endpoint requests (the parsed form), in order. */
  tokenRequests: URLSearchParams[];
  /** Successful refreshes. */
  refreshCount: number;
  /** Delay before the token endpoint answers, in ms. */
  tokenDelayMs: number;
  /** `resource_url` the token endpoint returns (default: this fake's origin, with scheme). */
  resourceUrl: string;
  /** Lifetime the token endpoint reports, in seconds. */
  expiresIn: number;
  /** A fresh token pair, as after a device login; both are valid until used/revoked. */
  issue(): QwenTokenPair;
  /** Invalidates every access token (the next API call gets 401); refresh tokens stay valid. */
  expireAccessTokens(): void;
  /** Revokes everything: refresh and access tokens. */
  revokeAll(): void;
  isValidRefreshToken(token: string): boolean;
  close(): Promise<void>;
}

const encoder = new TextEncoder();

type Json = Record<string, unknown>;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function lastMessage(body: Json): { role?: string; content?: unknown } | undefined {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  return messages.at(-1) as { role?: string; content?: unknown } | undefined;
}

function lastUserText(body: Json): string {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: string; content?: unknown };
    if (m.role === "user") {
      return typeof m.content === "string" ? m.content : JSON.stringify(m.content);
    }
  }
  return "";
}

export function startFakeQwen(): Promise<FakeQwen> {
  const refreshTokens = new Set<string>();
  const accessTokens = new Set<string>();
  let counter = 0;
  const issue = (): QwenTokenPair => {
    counter++;
    const pair = {
      access_token: `qwen-at-${counter}-${crypto.randomUUID()}`,
      refresh_token: `qwen-rt-${counter}-${crypto.randomUUID()}`,
    };
    refreshTokens.add(pair.refresh_token);
    accessTokens.add(pair.access_token);
    return pair;
  };

  const state: FakeQwen = {
    url: "",
    tokenUrl: "",
    apiBase: "",
    requests: [],
    tokenRequests: [],
    refreshCount: 0,
    tokenDelayMs: 0,
    resourceUrl: "",
    expiresIn: 21600,
    issue,
    expireAccessTokens: () => accessTokens.clear(),
    revokeAll: () => {
      accessTokens.clear();
      refreshTokens.clear();
    },
    isValidRefreshToken: (t) => refreshTokens.has(t),
    close: () => Promise.resolve(),
  };

  async function tokenEndpoint(req: Request): Promise<Response> {
    if (!(req.headers.get("content-type") ?? "").includes("application/x-www-form-urlencoded")) {
      return json(400, { error: "invalid_request", error_description: "form body expected" });
    }
    const form = new URLSearchParams(await req.text());
    state.tokenRequests.push(form);
    if (state.tokenDelayMs > 0) await new Promise((r) => setTimeout(r, state.tokenDelayMs));
    if (form.get("client_id") !== FAKE_QWEN_CLIENT_ID) {
      return json(401, { error: "invalid_client", error_description: "Client not found" });
    }
    if (form.get("grant_type") !== "refresh_token") {
      return json(400, { error: "unsupported_grant_type", error_description: "" });
    }
    const old = form.get("refresh_token") ?? "";
    if (!refreshTokens.delete(old)) {
      return json(400, {
        error: "invalid_grant",
        error_description: "Invalid refresh token or refresh token expired",
      });
    }
    const pair = issue();
    state.refreshCount++;
    return json(200, {
      access_token: pair.access_token,
      refresh_token: pair.refresh_token,
      token_type: "Bearer",
      expires_in: state.expiresIn,
      scope: "openid profile email model.completion",
      resource_url: state.resourceUrl,
    });
  }

  function chat(req: Request, body: Json): Response {
    const auth = req.headers.get("authorization") ?? "";
    const bearer = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    if (!accessTokens.has(bearer)) {
      return json(401, {
        error: {
          message: "Invalid access token or token expired",
          type: "invalid_request_error",
          code: "invalid_api_key",
        },
      });
    }
    const model = String(body.model ?? "");
    if (model.endsWith("-429")) {
      return json(429, {
        error: {
          message: "Free allocated quota exceeded.",
          type: "insufficient_quota",
          code: "insufficient_quota",
        },
      }, { "retry-after": "7" });
    }
    if (model.endsWith("-500")) {
      return json(500, { error: { message: "Internal error", type: "server_error" } });
    }

    const id = `chatcmpl-${crypto.randomUUID().slice(0, 8)}`;
    const created = Math.floor(Date.now() / 1000);
    const last = lastMessage(body);
    const afterTool = last?.role === "tool";
    const tools = model.endsWith("-tools") && !afterTool;
    const text = afterTool
      ? `Tool said: ${
        typeof last?.content === "string" ? last.content : JSON.stringify(last?.content)
      }`
      : `Hello from ${model}: ${lastUserText(body)}`;
    const usage = { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 };
    const call = {
      id: "call_qwen_1",
      type: "function",
      function: { name: "get_weather", arguments: '{"city":"Paris"}' },
    };

    if (body.stream !== true) {
      return json(200, {
        id,
        object: "chat.completion",
        created,
        model,
        choices: [{
          index: 0,
          message: tools
            ? { role: "assistant", content: "", tool_calls: [call] }
            : { role: "assistant", content: text },
          finish_reason: tools ? "tool_calls" : "stop",
        }],
        usage,
      });
    }

    const chunk = (delta: Json, finish: string | null = null): string =>
      `data: ${
        JSON.stringify({
          id,
          object: "chat.completion.chunk",
          created,
          model,
          choices: [{ index: 0, delta, finish_reason: finish }],
        })
      }\n\n`;
    const events: string[] = [chunk({ role: "assistant", content: "" })];
    if (tools) {
      events.push(chunk({
        tool_calls: [{ index: 0, ...call, function: { name: "get_weather", arguments: "" } }],
      }));
      events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }));
      events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }));
      events.push(chunk({}, "tool_calls"));
    } else {
      for (const word of text.match(/\S+\s*/g) ?? []) events.push(chunk({ content: word }));
      events.push(chunk({}, "stop"));
    }
    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)
      ?.include_usage === true;
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
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((r) => setTimeout(r, 1));
        if (i >= events.length) return controller.close();
        controller.enqueue(encoder.encode(events[i++]));
      },
    });
    return new Response(stream, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
    });
  }

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        state.url = `http://127.0.0.1:${port}`;
        state.tokenUrl = `${state.url}/api/v1/oauth2/token`;
        state.apiBase = `${state.url}/v1`;
        state.resourceUrl = state.url;
        state.close = async () => {
          await server.shutdown();
        };
        resolve(state);
      },
    }, async (req) => {
      const url = new URL(req.url);
      if (req.method === "POST" && url.pathname === "/api/v1/oauth2/token") {
        return await tokenEndpoint(req);
      }
      if (req.method !== "POST" || url.pathname !== "/v1/chat/completions") {
        return json(404, { error: { message: "Not found", type: "invalid_request_error" } });
      }
      const rawBody = await req.text();
      let body: Json;
      try {
        body = JSON.parse(rawBody);
      } catch {
        return json(400, { error: { message: "bad json", type: "invalid_request_error" } });
      }
      state.requests.push({ path: url.pathname, headers: req.headers, body, rawBody });
      return chat(req, body);
    });
  });
}
