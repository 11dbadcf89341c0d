import type { ProviderConfig } from "../../config/schema.ts";
import { UpstreamError } from "../../errors.ts";
import { guardSseStream } from "../../http/stream_guard.ts";
import { maskSecretsInText } from "../../observe/mask.ts";
import { encodeSse } from "../../sse.ts";
import { OPENAI_COMPATIBLE_PRESETS } from "../../config/presets.ts";
import { type ClientSignal, fetchUpstream, parseRetryAfter, relayBody } from "../fetch_upstream.ts";

/** Upstream response headers worth relaying to the client (rate-limit state). */
const RELAYED_HEADERS = /^(retry-after|x-ratelimit-[a-z-]+)$/;

/** The provider's OpenAI-compatible base URL without a trailing slash. */
export function openAIBaseUrl(p: ProviderConfig): string {
  const base = p.base_url ?? (p.preset ? OPENAI_COMPATIBLE_PRESETS[p.preset] : undefined) ??
    OPENAI_COMPATIBLE_PRESETS.openai;
  return base.replace(/\/+$/, "");
}

/**
 * Same-format fast path: forwards an OpenAI request body to an OpenAI-compatible upstream
 * without converting it, so fields the gateway does not know survive. The upstream request is
 * built from scratch (content type, the provider's key, its configured headers), so nothing
 * that identifies the client — IP headers, cookies, its gateway key — can leak upstream.
 * A streamed answer is relayed chunk by chunk; a failure mid-stream ends it with an error event.
 */
export async function forwardOpenAI(
  options: {
    provider: ProviderConfig;
    path: string;
    body: BodyInit;
    apiKey: string | undefined;
    stream: boolean;
    signal: ClientSignal;
    observe?: (res: Response) => void;
  },
): Promise<Response> {
  const { provider, apiKey } = options;
  // Plain records, not Headers objects: they are cheaper on this hot path.
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: options.stream ? "text/event-stream" : "application/json",
  };
  for (const k in provider.headers) headers[k.toLowerCase()] = provider.headers[k];
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;

  const res = await fetchUpstream(openAIBaseUrl(provider) + options.path, {
    method: "POST",
    headers,
    body: options.body,
    timeoutMs: provider.timeout_ms,
    timeouts: provider,
    clientSignal: options.signal,
    proxyUrl: provider.proxy_url,
    observe: options.observe,
  });

  const out: Record<string, string> = {};
  for (const [k, v] of res.headers) {
    if (RELAYED_HEADERS.test(k)) out[k] = v;
  }

  if (!res.ok) {
    const text = await res.text().catch(() => "");
    const safe = maskSecretsInText(text, apiKey ? [apiKey] : []);
    // An upstream server error is a bad gateway from the client's point of view.
    const status = res.status >= 500 || res.status < 400 ? 502 : res.status;
    if (isOpenAIErrorBody(safe)) {
      out["content-type"] = "application/json";
      return new Response(safe, { status, headers: out });
    }
    throw new UpstreamError(
      status,
      `Upstream answered ${res.status}${safe ? `: ${safe.slice(0, 500)}` : ""}`,
      { code: "upstream_error", retryAfter: parseRetryAfter(res.headers.get("retry-after")) },
    );
  }

  const contentType = res.headers.get("content-type") ?? "application/json";
  out["content-type"] = contentType;
  if (!res.body) return new Response(null, { status: res.status, headers: out });
  if (!contentType.includes("text/event-stream")) {
    return new Response(relayBody(res), { status: res.status, headers: out });
  }
  out["cache-control"] = "no-cache";
  const body = guardSseStream(res.body, {
    onError: () =>
      encodeSse({
        data: JSON.stringify({
          error: {
            message: "The upstream stream broke off before the answer was complete.",
            type: "upstream_error",
            code: "stream_interrupted",
          },
        }),
      }),
  });
  return new Response(body, { status: res.status, headers: out });
}

function isOpenAIErrorBody(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && "error" in v &&
      typeof (v as { error: unknown }).error === "object";
  } catch {
    return false;
  }
}
