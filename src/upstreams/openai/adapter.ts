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
import { encodeOptionsFor } from "../encode_options.ts";
import { capabilitiesFor } from "../../ir/capabilities.ts";
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
    return forwardOpenAI({
      provider: ctx.provider,
      path: "/chat/completions",
      body: nativeBody(req, ctx),
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

/**
 * The Chat body to forward: the client's raw bytes unless an alias renames the model or the
 * model refuses what the client sent (reasoning models: `max_tokens`, non-default sampling;
 * GPT-4 models: `reasoning_effort`), which is fixed rather than bounced as a 400.
 */
function nativeBody(req: NativeForward, ctx: CallContext): BodyInit {
  const json = req.json;
  let out: Record<string, unknown> | undefined = json.model === ctx.model
    ? undefined
    : { ...json, model: ctx.model };
  const caps = capabilitiesFor(ctx.model, ctx.provider.capabilities);
  if (caps.maxTokensParam === "max_completion_tokens" && json.max_tokens != null) {
    out ??= { ...json };
    out.max_completion_tokens ??= json.max_tokens;
    delete out.max_tokens;
  }
  const dropped = caps.fixedSampling
    ? ["temperature", "top_p"].filter((k) => json[k] != null && json[k] !== 1)
    : [];
  if (caps.thinking === "none" && json.reasoning_effort != null) dropped.push("reasoning_effort");
  if (dropped.length > 0) {
    out ??= { ...json };
    for (const k of dropped) delete out[k];
    encodeOptionsFor(ctx).onDropped?.(dropped);
  }
  return out ? JSON.stringify(out) : req.raw;
}

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
  target: { baseUrl: string; bearer: string | undefined; headers: Record<string, string> },
): Promise<Response> {
  const headers = new Headers({
    "content-type": "application/json",
    accept: req.stream ? "text/event-stream" : "application/json",
  });
  for (const [k, v] of Object.entries(target.headers)) headers.set(k, v);
  if (target.bearer) headers.set("authorization", `Bearer ${target.bearer}`);
  return fetchUpstream(`${target.baseUrl}/chat/completions`, {
    method: "POST",
    headers,
    body: JSON.stringify(irToChatRequest(req, ctx.model, encodeOptionsFor(ctx))),
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
