import { UpstreamError } from "../../errors.ts";
import {
  chatResponseToIr,
  chatSseToIrTransformer,
} from "../../formats/openai_chat/from_upstream.ts";
import { irToChatRequest } from "../../formats/openai_chat/to_upstream.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { maskSecretsInText } from "../../observe/mask.ts";
import { fetchUpstream, parseRetryAfter } from "../fetch_upstream.ts";
import { sseBodyToIr } from "../ir_stream.ts";
import type { CallContext, NativeForward, Upstream } from "../types.ts";
import { forwardOpenAI, openAIBaseUrl } from "./forward.ts";

/**
 * OpenAI-compatible upstreams. Chat Completions clients are forwarded natively; other
 * formats go through the IR.
 */
export const openAIUpstream: Upstream = {
  type: "openai",
  nativeFormat: "openai_chat",

  forwardNative(req: NativeForward, ctx: CallContext): Promise<Response> {
    // Raw bytes go upstream unchanged unless an alias renames the model.
    const body = req.json.model === ctx.model
      ? req.raw
      : JSON.stringify({ ...req.json, model: ctx.model });
    return forwardOpenAI({
      provider: ctx.provider,
      path: "/chat/completions",
      body,
      apiKey: ctx.apiKey,
      stream: req.stream,
      // Lazily: touching the request's signal costs throughput on fast upstreams.
      signal: () => ctx.signal,
      observe: ctx.observe,
    });
  },

  async send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    const res = await post({ ...req, stream: false }, ctx);
    return chatResponseToIr(await res.json(), ctx.model);
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const res = await post({ ...req, stream: true }, ctx);
    if (!res.body) throw new UpstreamError(502, "Upstream sent an empty stream.");
    return sseBodyToIr(res.body, chatSseToIrTransformer(ctx.model));
  },
};

async function post(req: IrRequest, ctx: CallContext): Promise<Response> {
  const res = await postChatCompletions(req, ctx, {
    baseUrl: openAIBaseUrl(ctx.provider),
    bearer: ctx.apiKey,
    headers: ctx.provider.headers,
  });
  if (res.ok) return res;
  throw await openAIErrorToUpstreamError(res, ctx.apiKey);
}

/**
 * POSTs an IR request as OpenAI Chat Completions to `{baseUrl}/chat/completions`, with headers
 * built from scratch (content type, the given extra headers, the bearer token). Shared by every
 * OpenAI-compatible upstream; the caller interprets a failed answer.
 */
export function postChatCompletions(
  req: IrRequest,
  ctx: CallContext,
  target: {
    baseUrl: string;
    bearer: string | undefined;
    headers: Record<string, string>;
    /** A query string (`?api-version=…`) for hosts that version by query (Azure). */
    query?: string;
  },
): Promise<Response> {
  const headers = new Headers({
    "content-type": "application/json",
    accept: req.stream ? "text/event-stream" : "application/json",
  });
  for (const [k, v] of Object.entries(target.headers)) headers.set(k, v);
  if (target.bearer) headers.set("authorization", `Bearer ${target.bearer}`);
  return fetchUpstream(`${target.baseUrl}/chat/completions${target.query ?? ""}`, {
    method: "POST",
    headers,
    body: JSON.stringify(irToChatRequest(req, ctx.model)),
    timeoutMs: ctx.provider.timeout_ms,
    timeouts: ctx.provider,
    clientSignal: ctx.signal,
    proxyUrl: ctx.provider.proxy_url,
    observe: ctx.observe,
  });
}

/** An OpenAI-style error response → UpstreamError with its status, message and Retry-After. */
export async function openAIErrorToUpstreamError(
  res: Response,
  apiKey: string | undefined,
): Promise<UpstreamError> {
  const text = maskSecretsInText(await res.text().catch(() => ""), apiKey ? [apiKey] : []);
  let message = text.slice(0, 500);
  let code: string | undefined;
  try {
    const body = JSON.parse(text) as { error?: { message?: string; code?: unknown } };
    if (body.error?.message) message = body.error.message;
    if (typeof body.error?.code === "string") code = body.error.code;
  } catch {
    // Not JSON: keep the (truncated, masked) text.
  }
  const status = res.status >= 500 || res.status < 400 ? 502 : res.status;
  return new UpstreamError(status, `Upstream error (${res.status}): ${message || "no details"}`, {
    code: code ?? "upstream_error",
    retryAfter: parseRetryAfter(res.headers.get("retry-after")),
  });
}
