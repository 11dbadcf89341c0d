import { hasBody, relayAnswer } from "../../http/bytes_response.ts";
import { upstreamGeminiRequest } from "../../formats/gemini/request.ts";
import type { ProviderConfig } from "../../config/schema.ts";
import { geminiResponseToIr } from "../../formats/gemini/response.ts";
import {
  geminiErrorChunk,
  geminiSseChunk,
  geminiSseToIrTransformer,
} from "../../formats/gemini/stream.ts";
import { fuse } from "../../http/fused_stream.ts";
import { guardSseStream } from "../../http/stream_guard.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { sseParserTransformer } from "../../sse.ts";
import { ClientGoneError } from "../fetch_upstream.ts";
import {
  numberField,
  postJsonToApi,
  postToUpstream,
  readUpstreamFailure,
  type UpstreamErrorParser,
  type UpstreamPostContext,
} from "../post.ts";
import type { CallContext, NativeForward, Upstream } from "../types.ts";
import { geminiErrorParser, googleRetryAfter, parseGoogleError } from "./errors.ts";
import { embedGemini } from "./embeddings.ts";

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

async function buildBody(req: IrRequest, ctx: CallContext): Promise<string> {
  return JSON.stringify(await upstreamGeminiRequest(req, ctx.model, ctx.signal, ctx.imageFetch));
}

/**
 * Google AI Studio (Generative Language API, v1beta) with API keys. Gemini clients are
 * forwarded natively; other formats convert through the IR. Streams always use `alt=sse`
 * upstream.
 */
export const geminiUpstream: Upstream = {
  type: "gemini",
  embed: embedGemini,

  async countTokens(req: IrRequest, ctx: CallContext): Promise<number> {
    const inner = JSON.parse(await buildBody(req, ctx)) as Record<string, unknown>;
    const name = `models/${ctx.model.replace(/^models\//, "")}`;
    const json = await postJsonToApi({
      url: geminiUrl(ctx.provider, ctx.model, "countTokens", false),
      headers: geminiHeaders(ctx, "application/json"),
      body: JSON.stringify({ generateContentRequest: { model: name, ...inner } }),
      ctx,
      errorParser: geminiErrorParser,
      read: "json",
    });
    return numberField(json, "totalTokens", "Gemini countTokens");
  },

  async send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    const json = await postJsonToApi({
      url: geminiUrl(ctx.provider, ctx.model, "generateContent", false),
      headers: geminiHeaders(ctx, "application/json"),
      body: await buildBody(req, ctx),
      ctx,
      errorParser: geminiErrorParser,
      read: "json",
    });
    return geminiResponseToIr(json, { model: ctx.model });
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const res = await postJsonToApi({
      url: geminiUrl(ctx.provider, ctx.model, "streamGenerateContent", true),
      headers: geminiHeaders(ctx, "text/event-stream"),
      body: await buildBody(req, ctx),
      ctx,
      errorParser: geminiErrorParser,
      read: "sse",
    });
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
    // The model lives in the URL, so the client's bytes go upstream untouched; a stream that
    // is not SSE is Gemini's JSON array, relayed as it comes.
    const res = await postToUpstream({
      url,
      headers: geminiHeaders(ctx, sse ? "text/event-stream" : "application/json"),
      body: req.raw,
      ctx,
    }, stream && !sse);
    return await relayGeminiAnswer(res, ctx, { sse, errorParser: geminiErrorParser });
  },
};

/**
 * Relays a Gemini-format answer to a same-format client (AI Studio and Vertex share it):
 * Google error bodies pass with their mapped status (5xx → 502) and a Retry-After from
 * RetryInfo; other failures become the parser's UpstreamError; SSE streams end with an error
 * chunk if the upstream breaks off; the JSON array stream and plain answers are relayed as
 * they arrive.
 */
export async function relayGeminiAnswer(
  res: Response,
  ctx: UpstreamPostContext,
  options: { sse: boolean; errorParser: UpstreamErrorParser },
): Promise<Response> {
  const out: Record<string, string> = {};
  if (!res.ok) {
    const failure = await readUpstreamFailure(res, ctx);
    const parsed = parseGoogleError(failure.text);
    if (!parsed) throw options.errorParser(failure);
    const retryAfter = googleRetryAfter(failure.headers, parsed);
    out["content-type"] = "application/json; charset=UTF-8";
    if (retryAfter !== undefined) out["retry-after"] = String(Math.ceil(retryAfter));
    return new Response(failure.text, { status: failure.clientStatus, headers: out });
  }
  out["content-type"] = res.headers.get("content-type") ?? "application/json; charset=UTF-8";
  if (!hasBody(res)) return new Response(null, { status: res.status, headers: out });
  if (!options.sse) return relayAnswer(res, { status: res.status, headers: out });
  out["cache-control"] = "no-cache";
  const body = guardSseStream(res.body as ReadableStream<Uint8Array>, {
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
