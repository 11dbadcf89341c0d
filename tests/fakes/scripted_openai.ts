/**
 * An OpenAI-compatible chat upstream on 127.0.0.1 whose answers a test scripts per request:
 * the script sees the key and the running count and returns an error answer, or nothing for a
 * normal completion. Error answers have OpenAI's real shape. Refuses requests without a key.
 */
export interface ScriptedCall {
  key: string;
  body: Record<string, unknown>;
  /** 1-based count of requests so far (all keys). */
  n: number;
}

export type Script = (call: ScriptedCall) => Response | undefined;

export interface ScriptedUpstream {
  url: string;
  calls: ScriptedCall[];
  /** Replaces the script (e.g. when the upstream "recovers"). */
  script: Script;
  close(): Promise<void>;
}

/** An OpenAI error answer as the real API writes it. */
export function openAIError(
  status: number,
  message: string,
  extra: { type?: string; code?: string | null; param?: string | null } = {},
  headers: Record<string, string> = {},
): Response {
  return Response.json({
    error: {
      message,
      type: extra.type ?? (status >= 500 ? "server_error" : "invalid_request_error"),
      param: extra.param ?? null,
      code: extra.code ?? null,
    },
  }, { status, headers });
}

export function startScriptedOpenAI(script: Script = () => undefined): ScriptedUpstream {
  const calls: ScriptedCall[] = [];
  const up: ScriptedUpstream = {
    url: "",
    calls,
    script,
    close: async () => {},
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const key = (req.headers.get("authorization") ?? "").replace(/^Bearer /, "");
    if (!key) return openAIError(401, "You didn't provide an API key.");
    const body = await req.json().catch(() => ({})) as Record<string, unknown>;
    const call = { key, body, n: calls.length + 1 };
    calls.push(call);
    const scripted = up.script(call);
    if (scripted) return scripted;
    return Response.json({
      id: `chatcmpl-${call.n}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: String(body.model ?? "unknown"),
      choices: [{
        index: 0,
        message: { role: "assistant", content: `answer ${call.n}` },
        finish_reason: "stop",
      }],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    });
  });
  up.url = `http://127.0.0.1:${server.addr.port}/v1`;
  up.close = () => server.shutdown();
  return up;
}
