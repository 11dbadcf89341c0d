import { upstreamGeminiRequest } from "../../formats/gemini/request.ts";
import type { ProviderConfig } from "../../config/schema.ts";
import { UpstreamError } from "../../errors.ts";
import { geminiResponseToIr } from "../../formats/gemini/response.ts";
import {
  geminiErrorChunk,
  geminiSseChunk,
  geminiSseToIrTransformer,
} from "../../formats/gemini/stream.ts";
import { fuse } from "../../http/fused_stream.ts";
import { guardSseStream } from "../../http/stream_guard.ts";
import { maskSecretsInText } from "../../observe/mask.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { sseParserTransformer } from "../../sse.ts";
import { ClientGoneError, fetchUpstream, relayBody } from "../fetch_upstream.ts";
import type { CallContext, NativeForward, Upstream } from "../types.ts";
import { clientStatus, geminiUpstreamError, googleRetryAfter, parseGoogleError } from "./errors.ts";

export const GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com";

/** The API root without a trailing slash or version (`/v1beta` is added per call). */
export function geminiBaseUrl(p: ProviderConfig): string {
  return (p.base_url ?? GEMINI_DEFAULT_BASE_URL).replace(/\/+$/, "").replace(
    /\/v1(beta|alpha)?$/,
    "",
  );
}

type Method = "generateContent" | "streamGenerateContent" | "countTokens";

/** `{base}/v1beta/models/{model}:{method}`, with `alt=sse` for SSE streams. */
export function geminiUrl(p: ProviderConfig, model: string, method: Method, sse: boolean): string {
  const name = encodeURIComponent(model.replace(/^models\//, ""));
  return `${geminiBaseUrl(p)}/v1beta/models/${name}:${method}${sse ? "?alt=sse" : ""}`;
}

/**
 * Request headers built from scratch: content type, the provider's configured headers, and the
 * key as `x-goog-api-key` — never `?key=` in the URL, where it would end up in logs.
 */
function geminiHeaders(ctx: CallContext, accept: string): Headers {
  const headers = new Headers({ "content-type": "application/json", accept });
  for (const [k, v] of Object.entries(ctx.provider.headers)) headers.set(k, v);
  if (ctx.apiKey) headers.set("x-goog-api-key", ctx.apiKey);
  return headers;
}

function secrets(ctx: CallContext): string[] {
  return ctx.apiKey ? [ctx.apiKey] : [];
}

async function post(
  ctx: CallContext,
  url: string,
  body: BodyInit,
  accept: string,
): Promise<Response> {
  return await fetchUpstream(url, {
    method: "POST",
    headers: geminiHeaders(ctx, accept),
    body,
    timeoutMs: ctx.provider.timeout_ms,
    timeouts: ctx.provider,
    clientSignal: ctx.signal,
    proxyUrl: ctx.provider.proxy_url,
    observe: ctx.observe,
  });
}

async function buildBody(req: IrRequest, ctx: CallContext): Promise<string> {
  return JSON.stringify(await upstreamGeminiRequest(req, ctx.model, ctx.signal));
}

/**
 * Google AI Studio (Generative Language API, v1beta) with API keys. Gemini clients are
 * forwarded natively; other formats convert through the IR. Streams always use `alt=sse`
 * upstream.
 */
export const geminiUpstream: Upstream = {
  type: "gemini",

  async countTokens(req: IrRequest, ctx: CallContext): Promise<number> {
    const inner = JSON.parse(await buildBody(req, ctx)) as Record<string, unknown>;
    const name = `models/${ctx.model.replace(/^models\//, "")}`;
    const res = await post(
      ctx,
      geminiUrl(ctx.provider, ctx.model, "countTokens", false),
      JSON.stringify({ generateContentRequest: { model: name, ...inner } }),
      "application/json",
    );
    if (!res.ok) throw await geminiUpstreamError(res, secrets(ctx));
    const json = await res.json().catch(() => ({})) as { totalTokens?: unknown };
    if (typeof json.totalTokens !== "number") {
      throw new UpstreamError(502, "Gemini answered countTokens unexpectedly.");
    }
    return json.totalTokens;
  },

  async send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    const body = await buildBody(req, ctx);
    const res = await post(
      ctx,
      geminiUrl(ctx.provider, ctx.model, "generateContent", false),
      body,
      "application/json",
    );
    if (!res.ok) throw await geminiUpstreamError(res, secrets(ctx));
    let json: unknown;
    try {
      json = await res.json();
    } catch {
      throw new UpstreamError(502, "The Gemini upstream answered with a body that is not JSON.", {
        code: "upstream_bad_response",
      });
    }
    return geminiResponseToIr(json, { model: ctx.model });
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const body = await buildBody(req, ctx);
    const res = await post(
      ctx,
      geminiUrl(ctx.provider, ctx.model, "streamGenerateContent", true),
      body,
      "text/event-stream",
    );
    if (!res.ok) throw await geminiUpstreamError(res, secrets(ctx));
    if (!res.body) {
      throw new UpstreamError(502, "The Gemini upstream answered without a body.", {
        code: "upstream_bad_response",
      });
    }
    const events = fuse(res.body, [
      sseParserTransformer(),
      geminiSseToIrTransformer({ model: ctx.model }),
    ]);
    return endWithErrorEvent(events, ctx.signal);
  },

  async forwardNative(req: NativeForward, ctx: CallContext): Promise<Response> {
    const stream = req.hints.stream ?? req.stream;
    const sse = stream && req.hints.sse === true;
    const url = geminiUrl(
      ctx.provider,
      ctx.model,
      stream ? "streamGenerateContent" : "generateContent",
      sse,
    );
    // The model lives in the URL, so the client's bytes go upstream untouched.
    const res = await post(ctx, url, req.raw, sse ? "text/event-stream" : "application/json");

    return await relayGeminiAnswer(res, { name: "Gemini", sse, secrets: secrets(ctx) });
  },
};

/**
 * Relays a Gemini-format answer to a same-format client (AI Studio and Vertex share it):
 * Google error bodies pass with their mapped status (5xx → 502) and a Retry-After from
 * RetryInfo; other failures become UpstreamError; SSE streams end with an error chunk if the
 * upstream breaks off; the JSON array stream and plain answers are relayed as they arrive.
 */
export async function relayGeminiAnswer(
  res: Response,
  options: { name: string; sse: boolean; secrets: string[] },
): Promise<Response> {
  const out = new Headers();
  if (!res.ok) {
    const text = maskSecretsInText(await res.text().catch(() => ""), options.secrets);
    const parsed = parseGoogleError(text);
    const retryAfter = googleRetryAfter(res.headers, parsed);
    if (!parsed) {
      throw new UpstreamError(
        clientStatus(res.status),
        `${options.name} upstream answered ${res.status}${text ? `: ${text.slice(0, 500)}` : ""}`,
        { code: "upstream_error", ...(retryAfter !== undefined ? { retryAfter } : {}) },
      );
    }
    out.set("content-type", "application/json; charset=UTF-8");
    if (retryAfter !== undefined) out.set("retry-after", String(Math.ceil(retryAfter)));
    return new Response(text, { status: clientStatus(res.status), headers: out });
  }
  out.set("content-type", res.headers.get("content-type") ?? "application/json; charset=UTF-8");
  if (!res.body) return new Response(null, { status: res.status, headers: out });
  if (!options.sse) return new Response(relayBody(res), { status: res.status, headers: out });
  out.set("cache-control", "no-cache");
  const body = guardSseStream(res.body, {
    onError: () =>
      geminiSseChunk(
        geminiErrorChunk(502, "The upstream stream broke off before the answer was complete."),
      ),
  });
  return new Response(body, { status: res.status, headers: out });
}

/**
 * Wraps an IR stream from the network so it never errors: a read failure (connection reset,
 * parser error) becomes one `error` event and a clean end, as the Upstream contract requires.
 * When the client has gone away the stream just ends.
 */
function endWithErrorEvent(
  events: ReadableStream<IrEvent>,
  signal: AbortSignal,
): ReadableStream<IrEvent> {
  const reader = events.getReader();
  let ended = false;
  return new ReadableStream<IrEvent>({
    async pull(controller) {
      if (ended) return;
      try {
        const { done, value } = await reader.read();
        if (done) {
          ended = true;
          controller.close();
          return;
        }
        controller.enqueue(value);
        if (value.type === "error") {
          ended = true;
          controller.close();
          await reader.cancel().catch(() => {});
        }
      } catch (err) {
        ended = true;
        if (!signal.aborted && !(err instanceof ClientGoneError)) {
          controller.enqueue({
            type: "error",
            status: 502,
            message: "The Gemini upstream stream broke off before the answer was complete.",
          });
        }
        controller.close();
      }
    },
    async cancel(reason) {
      ended = true;
      await reader.cancel(reason).catch(() => {});
    },
  });
}
